/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Plain driver for a fuzz target: replays every file named on the command line
 * (directories are walked, dot files skipped) through LLVMFuzzerTestOneInput(),
 * or writes the target's seed corpus with --write-seeds DIR.
 *
 * Invariants: an input that breaks an invariant aborts inside the target; the
 * driver fails when it replayed no input at all, so a missing corpus is loud.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "replay.h"

static unsigned int g_inputs;

static int replay_file(const char *path)
{
	static uint8_t in[(1u << 16) + 4096];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		perror(path);
		return -1;
	}
	n = fread(in, 1, sizeof(in), f);
	fclose(f);
	LLVMFuzzerTestOneInput(in, n);
	g_inputs++;
	return 0;
}

static int replay_path(const char *path)
{
	struct dirent *e;
	struct stat st;
	int rc = 0;
	DIR *d;

	if (stat(path, &st)) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	d = opendir(path);
	if (!d) {
		perror(path);
		return -1;
	}
	while (!rc && (e = readdir(d))) {
		char sub[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		rc = replay_path(sub);
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
		return fuzz_write_seeds(argv[2]) ? 1 : 0;
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i]))
			return 1;
	printf("replayed %u inputs\n", g_inputs);
	return g_inputs ? 0 : 1;
}
