/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Host-side tests of the type1 backend's container-type decision (no kernel
 * needed): VFIO_CHECK_EXTENSION answers are injected, so the states the test
 * guest cannot reach (a kernel offering only no-IOMMU, sPAPR TCE, type1 v1 or
 * nesting containers) are covered. Also the PCI address parser.
 *
 * Invariants: each case names the extension set and the expected answer;
 * the exit status is 0 only if every check ran and passed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dmac/vfio_compat.h"

int dmac__vfio_parse_bdf(const char *in, char out[16]);

static int failures, checks;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		checks++;                                                                          \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/* Bit n set = extension n supported; records every extension asked for. */
struct fake {
	unsigned int supported;
	unsigned int asked;
};

static int fake_ext(void *arg, int ext)
{
	struct fake *f = arg;

	if (ext < 0 || ext >= 32)
		return 0;
	f->asked |= 1u << ext;
	return (f->supported >> ext) & 1;
}

static void expect(unsigned int supported, int want, const char *frag)
{
	struct fake f = {.supported = supported};
	char why[256] = "";
	int got = dmac__vfio_choose_iommu(fake_ext, &f, why, sizeof(why));

	CHECK(got == want, "extensions 0x%x: got %d, want %d (%s)", supported, got, want, why);
	CHECK(strstr(why, frag), "extensions 0x%x: reason '%s' lacks '%s'", supported, why, frag);
	/* The decision must have asked about type1 v2 and no-IOMMU at least. */
	CHECK((f.asked & (1u << 3)) && (f.asked & (1u << 8)), "asked 0x%x", f.asked);
}

int main(void)
{
	char out[16];

	/* uapi numbers: TYPE1 1, SPAPR_TCE 2, TYPE1v2 3, NESTING 6,
	 * SPAPR_TCE_v2 7, NOIOMMU 8, UNMAP_ALL 9. */
	expect(1u << 3, 3, "TYPE1v2");
	expect((1u << 1) | (1u << 3) | (1u << 9), 3, "TYPE1v2");
	expect((1u << 3) | (1u << 8), 3, "no-IOMMU mode is also enabled");
	expect(1u << 8, -EOPNOTSUPP, "no-IOMMU");
	expect((1u << 8) | (1u << 1), -EOPNOTSUPP, "no-IOMMU");
	expect(1u << 2, -EOPNOTSUPP, "sPAPR");
	expect(1u << 7, -EOPNOTSUPP, "sPAPR");
	expect(1u << 6, -EOPNOTSUPP, "nesting");
	expect(1u << 1, -EOPNOTSUPP, "v1");
	expect(0, -EOPNOTSUPP, "no IOMMU type at all");

	CHECK(!dmac__vfio_parse_bdf("0000:00:02.0", out) && !strcmp(out, "0000:00:02.0"), "%s",
	      out);
	CHECK(!dmac__vfio_parse_bdf("3a:1F.7", out) && !strcmp(out, "0000:3a:1f.7"), "%s", out);
	CHECK(!dmac__vfio_parse_bdf("abcd:ef:00.1", out) && !strcmp(out, "abcd:ef:00.1"), "%s",
	      out);
	CHECK(dmac__vfio_parse_bdf("00:20.0", out) == -EINVAL, "device > 0x1f");
	CHECK(dmac__vfio_parse_bdf("00:02.8", out) == -EINVAL, "function > 7");
	CHECK(dmac__vfio_parse_bdf("0000:00:02.0x", out) == -EINVAL, "trailing");
	CHECK(dmac__vfio_parse_bdf("0000-00:02.0", out) == -EINVAL, "separator");
	CHECK(dmac__vfio_parse_bdf("00:0g.0", out) == -EINVAL, "hex");
	CHECK(dmac__vfio_parse_bdf(NULL, out) == -EINVAL, "NULL");

	printf("test_vfio_decide: %d checks, %d failed\n", checks, failures);
	return failures || !checks;
}
