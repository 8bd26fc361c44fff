/* Test helpers around dosfstools and mtools: see tools.h. */
#include "support/tools.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

void rec_tool_require(const char *prog, const char *debian_package)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    if (system(cmd) != 0)
        fail_msg("%s is not installed: install the Debian package %s", prog, debian_package);
}

const char *rec_tool_tmp(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%ld_%s", REC_TEST_TMPDIR, (long)getpid(), name);
    return buf;
}

int rec_tool_run(char *out, size_t out_size, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd - 8, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd - 8)
        return -1;
    strcat(cmd, " 2>&1");
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    size_t used = 0;
    char chunk[512];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, p)) > 0) {
        if (out != NULL && out_size > 1 && used < out_size - 1) {
            size_t take = got < out_size - 1 - used ? got : out_size - 1 - used;
            memcpy(out + used, chunk, take);
            used += take;
        }
    }
    if (out != NULL && out_size > 0)
        out[used] = '\0';
    int st = pclose(p);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

int rec_tool_mkfs(const char *img, unsigned mib, const char *extra_opts)
{
    rec_tool_require("mkfs.fat", "dosfstools");
    unlink(img);
    char out[4096];
    int rc = rec_tool_run(out, sizeof out, "mkfs.fat -F 32 %s -C '%s' %u", extra_opts ? extra_opts : "",
                          img, mib * 1024u);
    if (rc != 0)
        print_message("mkfs.fat failed (%d): %s\n", rc, out);
    return rc;
}

int rec_tool_fsck(const char *img, bool repair, char *out, size_t out_size)
{
    rec_tool_require("fsck.fat", "dosfstools");
    return rec_tool_run(out, out_size, "fsck.fat %s '%s'", repair ? "-a -w" : "-n", img);
}

int rec_tool_mdir(const char *img, const char *dos_path, char *out, size_t out_size)
{
    rec_tool_require("mdir", "mtools");
    return rec_tool_run(out, out_size, "MTOOLS_SKIP_CHECK=1 mdir -i '%s' '%s'", img, dos_path);
}

int rec_tool_mcopy_out(const char *img, const char *dos_path, const char *local_path)
{
    rec_tool_require("mcopy", "mtools");
    char out[1024];
    unlink(local_path);
    int rc = rec_tool_run(out, sizeof out, "MTOOLS_SKIP_CHECK=1 mcopy -n -i '%s' '%s' '%s'", img, dos_path,
                          local_path);
    if (rc != 0)
        print_message("mcopy out failed (%d): %s\n", rc, out);
    return rc;
}

int rec_tool_mcopy_in(const char *img, const char *local_path, const char *dos_path)
{
    rec_tool_require("mcopy", "mtools");
    char out[1024];
    int rc = rec_tool_run(out, sizeof out, "MTOOLS_SKIP_CHECK=1 mcopy -o -i '%s' '%s' '%s'", img, local_path,
                          dos_path);
    if (rc != 0)
        print_message("mcopy in failed (%d): %s\n", rc, out);
    return rc;
}

int rec_tool_mmd(const char *img, const char *dos_path)
{
    rec_tool_require("mmd", "mtools");
    char out[1024];
    int rc = rec_tool_run(out, sizeof out, "MTOOLS_SKIP_CHECK=1 mmd -i '%s' '%s'", img, dos_path);
    if (rc != 0)
        print_message("mmd failed (%d): %s\n", rc, out);
    return rc;
}

bool rec_tool_files_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb");
    FILE *fb = fopen(b, "rb");
    bool eq = fa != NULL && fb != NULL;
    while (eq) {
        char ba[4096], bb[4096];
        size_t na = fread(ba, 1, sizeof ba, fa);
        size_t nb = fread(bb, 1, sizeof bb, fb);
        if (na != nb || memcmp(ba, bb, na) != 0)
            eq = false;
        if (na == 0)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return eq;
}

int rec_tool_write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        return -1;
    size_t n = fwrite(data, 1, len, fp);
    return (fclose(fp) == 0 && n == len) ? 0 : -1;
}

long rec_tool_read_file(const char *path, void *buf, size_t max)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return -1;
    size_t n = fread(buf, 1, max, fp);
    fclose(fp);
    return (long)n;
}
