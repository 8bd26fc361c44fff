/* Helpers for tests that use the Linux FAT tools (dosfstools, mtools) as the reference.
 *
 * Every helper that needs a tool first checks it is installed; if not, the current cmocka test
 * fails with a message naming the Debian package to install. Temporary files live under
 * REC_TEST_TMPDIR (set by CMake); rec_tool_tmp() names them per process. */
#ifndef REC_TEST_TOOLS_H
#define REC_TEST_TOOLS_H

#include <stdbool.h>
#include <stddef.h>

/* Fails the current test unless `prog` is on PATH (package named in the message). */
void rec_tool_require(const char *prog, const char *debian_package);

/* Writes "<REC_TEST_TMPDIR>/<pid>_<name>" into buf and returns buf. */
const char *rec_tool_tmp(char *buf, size_t size, const char *name);

/* Runs a shell command (stderr merged into stdout), capturing up to out_size-1 bytes of output
 * into out (may be NULL). Returns the exit status, or -1 if it could not run / was killed. */
int rec_tool_run(char *out, size_t out_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* mkfs.fat -F 32 -C <img> <mib MiB>, with extra options (e.g. "-s 1 -n LABEL"), removing a
 * previous file first. Returns the exit status (0 = success). */
int rec_tool_mkfs(const char *img, unsigned mib, const char *extra_opts);

/* fsck.fat -n (check only) or -a (repair). Returns the exit status: 0 clean (or, with -a,
 * nothing needed changing), 1 errors found (-n) / corrected (-a), other: failure. The output
 * goes into out. */
int rec_tool_fsck(const char *img, bool repair, char *out, size_t out_size);

/* mtools on an image file (with MTOOLS_SKIP_CHECK=1). Paths on the image are like "::/A/B.TXT".
 * Each returns the exit status; output goes to out. */
int rec_tool_mdir(const char *img, const char *dos_path, char *out, size_t out_size);
int rec_tool_mcopy_out(const char *img, const char *dos_path, const char *local_path);
int rec_tool_mcopy_in(const char *img, const char *local_path, const char *dos_path);
int rec_tool_mmd(const char *img, const char *dos_path);

/* Byte comparison; true if both files exist and are identical. */
bool rec_tool_files_equal(const char *a, const char *b);
/* Writes `len` bytes to a file; 0 or -1. */
int rec_tool_write_file(const char *path, const void *data, size_t len);
/* Reads at most max bytes of a file into buf; returns the byte count or -1. */
long rec_tool_read_file(const char *path, void *buf, size_t max);

#endif
