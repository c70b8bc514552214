/* SPDX-License-Identifier: BSD-3-Clause */
/* lease: placeholder until the module lands; the file list of meson.build is fixed. */
