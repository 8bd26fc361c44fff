/* The QEMU port's device NVM and entropy (port.h), through semihosting (semihost.h).
 *
 * NVM: the lm3s6965evb's flash is ROM to the guest and is reloaded from the ELF at every start
 * (docs/design/evidence.md section 0), so the machine has nothing that persists. The NVM is a
 * host file, NVM_FILE, in QEMU's working directory (the test harness gives every test its own).
 * The port applies the NOR rules itself: erase writes 0xFF over a sector; program reads each page
 * back, ANDs the new bytes in and writes the result, so a program can only clear bits. Bytes past
 * the end of the file read as 0xFF (a new, empty file is a blank NVM); the first erase or program
 * extends the file with 0xFF to the whole NVM size, so no hole (which would read as 0x00) is left.
 * A file on the host proves nothing about who holds the key: port_nvm_info says `simulated`.
 *
 * Entropy: the machine has no random source; the host's /dev/urandom is read through
 * semihosting. Without semihosting (or without /dev/urandom) every function here fails
 * (REC_E_UNSUPPORTED), and the device records unsigned. Main loop only: not reentrant. */
#include <stddef.h>
#include <string.h>

#include "rec/err.h"
#include "rec/port.h"
#include "rec_protocol.h"
#include "semihost.h"

#define NVM_FILE "er1-nvm.bin"
#define NVM_SECTOR_BYTES 4096u
#define NVM_PAGE_BYTES 256u
#define NVM_SECTORS 16u
#define NVM_BYTES (NVM_SECTOR_BYTES * NVM_SECTORS)

static int32_t g_nvm = -1;             /* host file handle, kept open once opened */
static uint8_t g_page[NVM_PAGE_BYTES]; /* one page: 0xFF fill, or read-modify-AND on program */

static int32_t sh_open(const char *name, uint32_t mode)
{
    const uint32_t block[3] = {(uint32_t)(uintptr_t)name, mode, (uint32_t)strlen(name)};
    return semihost_call(SEMIHOST_SYS_OPEN, block);
}

static void sh_close(int32_t fd)
{
    const uint32_t block[1] = {(uint32_t)fd};
    (void)semihost_call(SEMIHOST_SYS_CLOSE, block);
}

/* SYS_READ and SYS_WRITE answer with the number of bytes NOT transferred. */
static int32_t sh_read(int32_t fd, void *buf, uint32_t len)
{
    const uint32_t block[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, len};
    return semihost_call(SEMIHOST_SYS_READ, block);
}

static int32_t sh_write(int32_t fd, const void *buf, uint32_t len)
{
    const uint32_t block[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, len};
    return semihost_call(SEMIHOST_SYS_WRITE, block);
}

static int sh_seek(int32_t fd, uint32_t pos)
{
    const uint32_t block[2] = {(uint32_t)fd, pos};
    return semihost_call(SEMIHOST_SYS_SEEK, block) == 0 ? REC_OK : REC_E_IO;
}

/* Opens the NVM file, creating it (empty = blank) when it does not exist yet. */
static int nvm_open(void)
{
    if (g_nvm >= 0) return REC_OK;
    int32_t fd = sh_open(NVM_FILE, SEMIHOST_OPEN_RPLUS_B);
    if (fd < 0) fd = sh_open(NVM_FILE, SEMIHOST_OPEN_WPLUS_B);
    if (fd < 0) return REC_E_UNSUPPORTED;
    g_nvm = fd;
    return REC_OK;
}

static int nvm_length(uint32_t *len)
{
    const uint32_t block[1] = {(uint32_t)g_nvm};
    int32_t n = semihost_call(SEMIHOST_SYS_FLEN, block);
    if (n < 0) return REC_E_IO;
    *len = (uint32_t)n;
    return REC_OK;
}

/* Writes len bytes of 0xFF at pos. */
static int write_blank(uint32_t pos, uint32_t len)
{
    memset(g_page, 0xFF, sizeof g_page);
    int err = sh_seek(g_nvm, pos);
    while (err == REC_OK && len > 0) {
        uint32_t n = len < sizeof g_page ? len : (uint32_t)sizeof g_page;
        if (sh_write(g_nvm, g_page, n) != 0) err = REC_E_IO;
        len -= n;
    }
    return err;
}

/* Opens the file and makes it the whole NVM size (a blank tail) before a write. */
static int nvm_open_whole(void)
{
    uint32_t len = 0;
    int err = nvm_open();
    if (err == REC_OK) err = nvm_length(&len);
    if (err == REC_OK && len < NVM_BYTES) err = write_blank(len, NVM_BYTES - len);
    return err;
}

int port_nvm_info(port_nvm_info_t *out)
{
    if (!out) return REC_E_INVAL;
    int err = nvm_open();
    if (err != REC_OK) return err;
    out->sector_bytes = NVM_SECTOR_BYTES;
    out->page_bytes = NVM_PAGE_BYTES;
    out->sectors = NVM_SECTORS;
    out->simulated = true;
    return REC_OK;
}

int port_nvm_read(uint32_t offset, void *buf, uint32_t len)
{
    if (!buf && len > 0) return REC_E_INVAL;
    if (offset > NVM_BYTES || len > NVM_BYTES - offset) return REC_E_RANGE;
    uint32_t file_len = 0;
    int err = nvm_open();
    if (err == REC_OK) err = nvm_length(&file_len);
    if (err != REC_OK) return err;
    uint32_t in_file = file_len > offset ? file_len - offset : 0;
    if (in_file > len) in_file = len;
    uint32_t got = 0;
    if (in_file > 0) {
        err = sh_seek(g_nvm, offset);
        if (err != REC_OK) return err;
        int32_t missed = sh_read(g_nvm, buf, in_file);
        if (missed < 0 || (uint32_t)missed > in_file) return REC_E_IO;
        got = in_file - (uint32_t)missed;
    }
    memset((uint8_t *)buf + got, 0xFF, len - got); /* past the end of the file: blank */
    return REC_OK;
}

int port_nvm_erase_sector(uint32_t offset)
{
    if (offset % NVM_SECTOR_BYTES != 0) return REC_E_INVAL;
    if (offset >= NVM_BYTES) return REC_E_RANGE;
    int err = nvm_open_whole();
    return err == REC_OK ? write_blank(offset, NVM_SECTOR_BYTES) : err;
}

int port_nvm_program(uint32_t offset, const void *buf, uint32_t len)
{
    if (!buf || offset % NVM_PAGE_BYTES != 0 || len % NVM_PAGE_BYTES != 0) return REC_E_INVAL;
    if (offset > NVM_BYTES || len > NVM_BYTES - offset) return REC_E_RANGE;
    int err = nvm_open_whole();
    const uint8_t *src = buf;
    for (uint32_t done = 0; err == REC_OK && done < len; done += NVM_PAGE_BYTES) {
        err = port_nvm_read(offset + done, g_page, NVM_PAGE_BYTES);
        for (uint32_t i = 0; i < NVM_PAGE_BYTES; i++) g_page[i] &= src[done + i]; /* NOR: clear only */
        if (err == REC_OK) err = sh_seek(g_nvm, offset + done);
        if (err == REC_OK && sh_write(g_nvm, g_page, NVM_PAGE_BYTES) != 0) err = REC_E_IO;
    }
    return err;
}

int port_entropy(uint8_t *buf, uint32_t len, uint8_t *source)
{
    if (!buf || !source) return REC_E_INVAL;
    int32_t fd = sh_open("/dev/urandom", SEMIHOST_OPEN_RB);
    if (fd < 0) return REC_E_UNSUPPORTED;
    int32_t missed = sh_read(fd, buf, len);
    sh_close(fd);
    if (missed != 0) return REC_E_IO;
    *source = RP_ENTROPY_HOST_SEMIHOSTING;
    return REC_OK;
}
