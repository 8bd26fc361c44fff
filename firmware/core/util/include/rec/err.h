/* Error codes of the firmware core. Every fallible function returns REC_OK (0) or one of these
 * negative values. Bad input (a corrupted card, a malformed frame) is an error code; a broken
 * invariant inside the core is a bug and is caught by REC_ASSERT instead. */
#ifndef REC_ERR_H
#define REC_ERR_H

typedef enum {
    REC_OK = 0,
    REC_E_IO = -1,          /* block device or card I/O failed */
    REC_E_TIMEOUT = -2,     /* the card or a peripheral did not answer in time */
    REC_E_NOCARD = -3,      /* no card present */
    REC_E_BADFS = -4,       /* not a FAT32 volume, or its structures are inconsistent */
    REC_E_NOSPC = -5,       /* no free space (clusters, directory entries) */
    REC_E_NOENT = -6,       /* no such file or directory */
    REC_E_EXIST = -7,       /* already exists */
    REC_E_INVAL = -8,       /* invalid argument */
    REC_E_RANGE = -9,       /* offset or length out of range */
    REC_E_BUSY = -10,       /* cannot do this now (recording, finalising) */
    REC_E_CORRUPT = -11,    /* stored data failed a check (magic, CRC, chain) */
    REC_E_MISMATCH = -12,   /* a hash or token did not match */
    REC_E_FULL = -13,       /* a fixed-size table is full */
    REC_E_UNSUPPORTED = -14,/* the card, port or request asks for something not supported */
    REC_E_TOOBIG = -15,     /* a file would exceed a format limit (4 GiB WAV) */
    REC_E_NOKEY = -16,      /* no device key (never provisioned, or the stored key is damaged) */
    REC_E_ENTROPY = -17,    /* the entropy source failed its health checks */
} rec_err_t;

/* Short constant name of an error code, for logs. */
const char *rec_err_name(int err);

#ifndef REC_ASSERT
#ifdef NDEBUG
#define REC_ASSERT(x) ((void)0)
#else
#include <assert.h>
#define REC_ASSERT(x) assert(x)
#endif
#endif

#define REC_COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

#endif
