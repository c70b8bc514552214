/* SPDX-License-Identifier: BSD-3-Clause */
/* cache: placeholder until the module lands; the file list of meson.build is fixed. */
