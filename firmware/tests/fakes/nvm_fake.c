/* Fake NOR NVM and entropy source: see nvm_fake.h. */
#include "fakes/nvm_fake.h"

#include <string.h>

#include "rec/err.h"
#include "rec/port.h"
#include "rec_protocol.h"

static uint8_t g_image[NVM_FAKE_BYTES];
static bool g_present;
static uint32_t g_ops;
static int32_t g_cut_at = -1;
static bool g_power_lost;
static nvm_fake_entropy_t g_entropy;
static uint8_t g_entropy_source;
static uint32_t g_entropy_state;

void nvm_fake_reset(void)
{
    g_present = false;
    memset(g_image, 0xFF, sizeof g_image);
    g_ops = 0;
    g_cut_at = -1;
    g_power_lost = false;
    g_entropy = NVM_FAKE_ENTROPY_GOOD;
    g_entropy_source = RP_ENTROPY_OS;
    g_entropy_state = 0x2545F491u;
}

void nvm_fake_enable(bool present) { g_present = present; }
void nvm_fake_erase_all(void) { memset(g_image, 0xFF, sizeof g_image); }
uint8_t *nvm_fake_image(void) { return g_image; }
uint32_t nvm_fake_ops(void) { return g_ops; }
bool nvm_fake_power_lost(void) { return g_power_lost; }
void nvm_fake_power_on(void)
{
    g_power_lost = false;
    g_cut_at = -1;
}

void nvm_fake_cut_at(int32_t op)
{
    g_cut_at = op < 0 ? -1 : (int32_t)g_ops + op;
}

void nvm_fake_set_entropy(nvm_fake_entropy_t mode, uint8_t source)
{
    g_entropy = mode;
    g_entropy_source = source;
}

/* True when this operation is the one cut: it then does half its work. */
static bool take_op(void)
{
    bool cut = g_cut_at >= 0 && (int32_t)g_ops == g_cut_at;
    g_ops++;
    if (cut) g_power_lost = true;
    return cut;
}

int port_nvm_info(port_nvm_info_t *out)
{
    if (!g_present) return REC_E_UNSUPPORTED;
    out->sector_bytes = NVM_FAKE_SECTOR_BYTES;
    out->page_bytes = NVM_FAKE_PAGE_BYTES;
    out->sectors = NVM_FAKE_SECTORS;
    out->simulated = true;
    return REC_OK;
}

int port_nvm_read(uint32_t offset, void *buf, uint32_t len)
{
    if (!g_present) return REC_E_UNSUPPORTED;
    if (g_power_lost) return REC_E_IO;
    if (offset > NVM_FAKE_BYTES || len > NVM_FAKE_BYTES - offset) return REC_E_RANGE;
    memcpy(buf, g_image + offset, len);
    return REC_OK;
}

int port_nvm_erase_sector(uint32_t offset)
{
    if (!g_present) return REC_E_UNSUPPORTED;
    if (g_power_lost) return REC_E_IO;
    if (offset % NVM_FAKE_SECTOR_BYTES != 0 || offset >= NVM_FAKE_BYTES) return REC_E_INVAL;
    bool cut = take_op();
    memset(g_image + offset, 0xFF, cut ? NVM_FAKE_SECTOR_BYTES / 2u : NVM_FAKE_SECTOR_BYTES);
    return cut ? REC_E_IO : REC_OK;
}

int port_nvm_program(uint32_t offset, const void *buf, uint32_t len)
{
    if (!g_present) return REC_E_UNSUPPORTED;
    if (g_power_lost) return REC_E_IO;
    if (offset % NVM_FAKE_PAGE_BYTES != 0 || len % NVM_FAKE_PAGE_BYTES != 0 || offset > NVM_FAKE_BYTES ||
        len > NVM_FAKE_BYTES - offset)
        return REC_E_INVAL;
    bool cut = take_op();
    const uint8_t *src = buf;
    /* A cut program: the first half of the non-0xFF bytes it was changing reach the flash. */
    uint32_t changing = 0;
    for (uint32_t i = 0; i < len; i++) changing += src[i] != 0xFFu;
    uint32_t done = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (src[i] == 0xFFu) continue;
        if (cut && done >= changing / 2u) break;
        g_image[offset + i] &= src[i];
        done++;
    }
    return cut ? REC_E_IO : REC_OK;
}

int port_entropy(uint8_t *buf, uint32_t len, uint8_t *source)
{
    if (g_entropy == NVM_FAKE_ENTROPY_ABSENT) return REC_E_UNSUPPORTED;
    for (uint32_t i = 0; i < len; i++) {
        /* xorshift32: plenty for health checks; tests never rely on its secrecy */
        g_entropy_state ^= g_entropy_state << 13;
        g_entropy_state ^= g_entropy_state >> 17;
        g_entropy_state ^= g_entropy_state << 5;
        buf[i] = g_entropy == NVM_FAKE_ENTROPY_STUCK ? 0u : (uint8_t)g_entropy_state;
    }
    *source = g_entropy_source;
    return REC_OK;
}
