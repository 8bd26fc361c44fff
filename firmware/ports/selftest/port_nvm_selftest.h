/* The port-level self-test of the device NVM and entropy (rec/port.h), shared by the bare-metal
 * self-test images of the QEMU port (ports/qemu/selftest/nvm_selftest_qemu.c) and the RP2040
 * port (ports/rp2040/selftest/nvm_selftest_rp2040.c). Included once by each, which defines how
 * text reaches the host (put). test/qemu-nvm.test.ts and test/rp2040-nvm.test.ts run the images
 * and read the lines below.
 *
 * What it checks, on the port's real code:
 *   - the geometry (port_nvm_info): 16 sectors of 4096 bytes, 256-byte pages;
 *   - NOR rules: erase gives 0xFF; a program ANDs (it cannot set a bit); 0xFF programs nothing;
 *     an erase restores 0xFF and leaves the next sector alone; reads at any offset;
 *   - arguments: unaligned erase/program, partial pages, NULL buffers, ranges past the end (also
 *     ones that overflow 32 bits) are refused with REC_E_INVAL / REC_E_RANGE and change nothing;
 *   - persistence: the last sector holds a marker when the image starts; the line
 *     `nvm persisted: yes` says the previous run's marker was found (the harness runs it twice on
 *     the same NVM), `no` that the NVM was blank there;
 *   - entropy: two draws of 64 bytes, printed in hex (`entropy source S: HEX`) for the harness
 *     to compare; their content is not judged here (a stuck source must still be reported);
 *   - the unique id (port_unique_id), printed as `unique id: HEX` or `unique id: none`.
 * Output: one `NAME: ok` or `NAME: FAILED` line per check, then
 * `nvm selftest: P of N checks passed`. */
#ifndef REC_PORT_NVM_SELFTEST_H
#define REC_PORT_NVM_SELFTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "rec/err.h"
#include "rec/port.h"

static void put(const char *s);

#define SELFTEST_SECTOR 4096u
#define SELFTEST_PAGE 256u
#define SELFTEST_NVM_BYTES (16u * SELFTEST_SECTOR)
#define SELFTEST_MARKER_AT (15u * SELFTEST_SECTOR)

static const char selftest_marker[32] = "ER-1 port NVM self-test marker\n";

static uint32_t g_checks, g_passed;
static uint8_t g_a[2 * SELFTEST_PAGE], g_b[2 * SELFTEST_PAGE], g_got[SELFTEST_SECTOR];

static void put_uint(uint32_t v)
{
    char buf[11];
    char *p = buf + sizeof buf - 1;
    *p = 0;
    do {
        *--p = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    put(p);
}

static void put_hex(const uint8_t *b, uint32_t n)
{
    static const char digits[] = "0123456789abcdef";
    char pair[3] = {0, 0, 0};
    for (uint32_t i = 0; i < n; i++) {
        pair[0] = digits[b[i] >> 4];
        pair[1] = digits[b[i] & 15u];
        put(pair);
    }
}

static void check(const char *name, bool ok)
{
    g_checks++;
    g_passed += ok ? 1u : 0u;
    put(name);
    put(ok ? ": ok\n" : ": FAILED\n");
}

static bool all_bytes(const uint8_t *b, uint32_t n, uint8_t v)
{
    for (uint32_t i = 0; i < n; i++)
        if (b[i] != v) return false;
    return true;
}

static bool read_is(uint32_t offset, const uint8_t *want, uint32_t n)
{
    return port_nvm_read(offset, g_got, n) == REC_OK && memcmp(g_got, want, n) == 0;
}

static bool read_blank(uint32_t offset, uint32_t n)
{
    return port_nvm_read(offset, g_got, n) == REC_OK && all_bytes(g_got, n, 0xFF);
}

/* Runs every check; returns true when all passed. */
static bool nvm_selftest_run(void)
{
    port_nvm_info_t info;
    memset(&info, 0, sizeof info);
    int rc = port_nvm_info(&info);
    put("nvm info: sector ");
    put_uint(info.sector_bytes);
    put(" page ");
    put_uint(info.page_bytes);
    put(" sectors ");
    put_uint(info.sectors);
    put(info.simulated ? " simulated 1\n" : " simulated 0\n");
    check("geometry", rc == REC_OK && info.sector_bytes == SELFTEST_SECTOR && info.page_bytes == SELFTEST_PAGE && info.sectors == 16u);

    /* Persistence: the marker of an earlier run, before anything is erased. */
    bool persisted = read_is(SELFTEST_MARKER_AT, (const uint8_t *)selftest_marker, sizeof selftest_marker);
    bool blank = read_blank(SELFTEST_MARKER_AT, sizeof selftest_marker);
    put(persisted ? "nvm persisted: yes\n" : blank ? "nvm persisted: no\n" : "nvm persisted: garbage\n");

    const uint32_t s1 = 1u * SELFTEST_SECTOR, s2 = 2u * SELFTEST_SECTOR;
    for (uint32_t i = 0; i < sizeof g_a; i++) {
        g_a[i] = (uint8_t)(0xF0u ^ (i * 7u));
        g_b[i] = (uint8_t)(0x3Cu + i * 13u);
    }
    check("erase gives 0xFF", port_nvm_erase_sector(s1) == REC_OK && port_nvm_erase_sector(s2) == REC_OK &&
                                  read_blank(s1, SELFTEST_SECTOR) && read_blank(s2, SELFTEST_SECTOR));
    check("program one page", port_nvm_program(s1, g_a, SELFTEST_PAGE) == REC_OK && read_is(s1, g_a, SELFTEST_PAGE) &&
                                  read_blank(s1 + SELFTEST_PAGE, SELFTEST_SECTOR - SELFTEST_PAGE));
    uint8_t and_ab[SELFTEST_PAGE];
    for (uint32_t i = 0; i < SELFTEST_PAGE; i++) and_ab[i] = g_a[i] & g_b[i];
    check("program cannot set bits (AND)", port_nvm_program(s1, g_b, SELFTEST_PAGE) == REC_OK && read_is(s1, and_ab, SELFTEST_PAGE));
    memset(g_got, 0xFF, SELFTEST_PAGE);
    check("programming 0xFF changes nothing", port_nvm_program(s1, g_got, SELFTEST_PAGE) == REC_OK && read_is(s1, and_ab, SELFTEST_PAGE));
    check("program two pages", port_nvm_program(s1 + SELFTEST_PAGE, g_a, 2u * SELFTEST_PAGE) == REC_OK &&
                                   read_is(s1 + SELFTEST_PAGE, g_a, 2u * SELFTEST_PAGE));
    check("unaligned read", port_nvm_read(s1 + SELFTEST_PAGE + 3u, g_got, 301u) == REC_OK && memcmp(g_got, g_a + 3, 301u) == 0);
    check("program the last page", port_nvm_erase_sector(SELFTEST_MARKER_AT) == REC_OK &&
                                       port_nvm_program(SELFTEST_NVM_BYTES - SELFTEST_PAGE, g_b, SELFTEST_PAGE) == REC_OK &&
                                       read_is(SELFTEST_NVM_BYTES - SELFTEST_PAGE, g_b, SELFTEST_PAGE));
    check("read up to the end", port_nvm_read(SELFTEST_NVM_BYTES - 16u, g_got, 16u) == REC_OK && memcmp(g_got, g_b + SELFTEST_PAGE - 16u, 16u) == 0);
    check("zero-length read", port_nvm_read(SELFTEST_NVM_BYTES, g_got, 0) == REC_OK);

    /* Refused arguments, and nothing changed by them. */
    check("unaligned erase refused", port_nvm_erase_sector(s1 + 1u) == REC_E_INVAL && port_nvm_erase_sector(s1 + SELFTEST_PAGE) == REC_E_INVAL);
    check("erase past the end refused", port_nvm_erase_sector(SELFTEST_NVM_BYTES) == REC_E_RANGE &&
                                            port_nvm_erase_sector(0xFFFFF000u) == REC_E_RANGE);
    check("unaligned program refused", port_nvm_program(s2 + 1u, g_a, SELFTEST_PAGE) == REC_E_INVAL &&
                                           port_nvm_program(s2, g_a, 100u) == REC_E_INVAL);
    check("NULL buffers refused", port_nvm_program(s2, NULL, SELFTEST_PAGE) == REC_E_INVAL && port_nvm_read(0, NULL, 4u) == REC_E_INVAL &&
                                      port_nvm_info(NULL) == REC_E_INVAL);
    check("program past the end refused", port_nvm_program(SELFTEST_NVM_BYTES - SELFTEST_PAGE, g_a, 2u * SELFTEST_PAGE) == REC_E_RANGE &&
                                              port_nvm_program(0xFFFFFF00u, g_a, 2u * SELFTEST_PAGE) == REC_E_RANGE);
    check("read past the end refused", port_nvm_read(SELFTEST_NVM_BYTES - 10u, g_got, 20u) == REC_E_RANGE &&
                                           port_nvm_read(0xFFFFFFF0u, g_got, 0x20u) == REC_E_RANGE);
    check("refused calls changed nothing", read_blank(s2, SELFTEST_SECTOR) && read_is(s1 + SELFTEST_PAGE, g_a, 2u * SELFTEST_PAGE));

    check("erase restores 0xFF, next sector kept", port_nvm_program(s2, g_a, SELFTEST_PAGE) == REC_OK && port_nvm_erase_sector(s1) == REC_OK &&
                                                       read_blank(s1, SELFTEST_SECTOR) && read_is(s2, g_a, SELFTEST_PAGE));

    /* Leave the marker for the next run. */
    memset(g_got, 0xFF, SELFTEST_PAGE);
    memcpy(g_got, selftest_marker, sizeof selftest_marker);
    check("marker written", port_nvm_erase_sector(SELFTEST_MARKER_AT) == REC_OK && port_nvm_program(SELFTEST_MARKER_AT, g_got, SELFTEST_PAGE) == REC_OK &&
                                read_is(SELFTEST_MARKER_AT, (const uint8_t *)selftest_marker, sizeof selftest_marker));

    /* Entropy: two draws, printed for the harness. */
    for (int draw = 0; draw < 2; draw++) {
        uint8_t source = 0xEE;
        memset(g_a, 0, 64);
        rc = port_entropy(g_a, 64, &source);
        put("entropy source ");
        put_uint(source);
        put(": ");
        if (rc == REC_OK) put_hex(g_a, 64);
        else put("error");
        put("\n");
    }
    check("entropy NULL refused", port_entropy(NULL, 8, g_a) == REC_E_INVAL);

    uint64_t uid = 0;
    put("unique id: ");
    if (port_unique_id(&uid) == REC_OK) {
        for (int i = 0; i < 8; i++) g_a[i] = (uint8_t)(uid >> (56 - 8 * i));
        put_hex(g_a, 8);
    } else {
        put("none");
    }
    put("\n");

    put("nvm selftest: ");
    put_uint(g_passed);
    put(" of ");
    put_uint(g_checks);
    put(" checks passed\n");
    return g_passed == g_checks;
}

#endif
