/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Plain driver for a fuzz target: replays every file named on the command line
 * (directories are walked, dot files skipped) through LLVMFuzzerTestOneInput(),
 * or writes the target's seed corpus with --write-seeds DIR.
 *
 * Options before the paths:
 * --foreign-fds     between inputs, open and close fds the way the fuzzing
 *                   runtime does (llvm-symbolizer's stdin and stdout pipes,
 *                   without O_CLOEXEC: a pair after the first input, replaced
 *                   by a new pair after the third, closed after the fifth),
 *                   so a target's fd check is shown to tell them from its own;
 * --expect-fd-leak  the replay runs in a child, which must die of SIGABRT after
 *                   printing "invariant failed: fd leak" (a deliberately
 *                   leaking variant of a target); anything else fails.
 *
 * Invariants: an input that breaks an invariant aborts inside the target; the
 * driver fails when it replayed no input at all, so a missing corpus is loud.
 */
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "replay.h"

static unsigned int g_inputs;
static bool g_foreign;
static int g_pipe[2] = {-1, -1};

/* After input number n (1-based) with --foreign-fds: a pipe pair after the
 * first input; after the third a new pair in its place (the same numbers,
 * other files: a restarted symbolizer); after the fifth none. */
static void foreign_step(unsigned int n)
{
	if (n == 3 || n == 5) {
		close(g_pipe[0]);
		close(g_pipe[1]);
	}
	if ((n == 1 || n == 3) && pipe(g_pipe)) {
		perror("replay: pipe");
		exit(1);
	}
}

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
	if (g_foreign)
		foreign_step(g_inputs);
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

static int replay_all(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (replay_path(argv[i]))
			return 1;
	printf("replayed %u inputs\n", g_inputs);
	return g_inputs ? 0 : 1;
}

/* --expect-fd-leak: 0 when the replay in a child died of the fd check. */
static int expect_fd_leak(int argc, char **argv)
{
	static char out[1 << 16];
	size_t len = 0;
	int p[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(p)) {
		perror("replay: pipe");
		return 1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("replay: fork");
		return 1;
	}
	if (pid == 0) {
		close(p[0]);
		if (dup2(p[1], 2) < 0)
			_exit(126);
		close(p[1]);
		exit(replay_all(argc, argv));
	}
	close(p[1]);
	while ((n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) != pid) {
		perror("replay: waitpid");
		return 1;
	}
	fputs(out, stderr);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
		fprintf(stderr, "replay: the target did not abort (status 0x%x)\n", status);
		return 1;
	}
	if (!strstr(out, "invariant failed: fd leak")) {
		fprintf(stderr, "replay: the target aborted, but not on its fd check\n");
		return 1;
	}
	printf("the fd check caught the leak\n");
	return 0;
}

int main(int argc, char **argv)
{
	bool expect_leak = false;
	int i = 1;

	if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
		return fuzz_write_seeds(argv[2]) ? 1 : 0;
	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--foreign-fds")) {
			g_foreign = true;
		} else if (!strcmp(argv[i], "--expect-fd-leak")) {
			expect_leak = true;
		} else {
			fprintf(stderr, "replay: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (expect_leak)
		return expect_fd_leak(argc - i, argv + i);
	return replay_all(argc - i, argv + i);
}
