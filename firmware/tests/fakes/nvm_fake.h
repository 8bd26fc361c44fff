/* A fake NOR NVM and entropy source for the host tests and the fuzz harnesses: the port_nvm_*
 * and port_entropy functions of rec/port.h over a 64 KiB RAM image (16 sectors of 4096 bytes,
 * 256-byte pages; program ANDs, erase sets 0xFF), with power-cut injection.
 *
 * port_fake_reset() resets it to "absent" (every function REC_E_UNSUPPORTED, as a port without
 * NVM): a test that wants NVM calls nvm_fake_enable(true). The image survives
 * nvm_fake_enable and nvm_fake_power_on, as flash survives a reboot; nvm_fake_erase_all()
 * makes it blank. */
#ifndef NVM_FAKE_H
#define NVM_FAKE_H

#include <stdbool.h>
#include <stdint.h>

#define NVM_FAKE_SECTOR_BYTES 4096u
#define NVM_FAKE_PAGE_BYTES 256u
#define NVM_FAKE_SECTORS 16u
#define NVM_FAKE_BYTES (NVM_FAKE_SECTOR_BYTES * NVM_FAKE_SECTORS)

void nvm_fake_reset(void);
void nvm_fake_enable(bool present);
void nvm_fake_erase_all(void);
uint8_t *nvm_fake_image(void);

/* Program and erase operations since the last reset (the unit of power-cut injection). */
uint32_t nvm_fake_ops(void);
/* The operation numbered `op` (counting from now, 0 = the next one) is cut halfway (a program
 * changes only the first half of its bytes, an erase sets only the first half of its sector to
 * 0xFF) and the power is then off: every later program, erase and read fails with REC_E_IO
 * until nvm_fake_power_on(). -1 disables. */
void nvm_fake_cut_at(int32_t op);
bool nvm_fake_power_lost(void);
void nvm_fake_power_on(void);

/* Entropy: by default a deterministic pseudo-random stream with source RP_ENTROPY_OS. A stuck
 * source returns all zero bytes (fails the health checks); absent returns REC_E_UNSUPPORTED. */
typedef enum { NVM_FAKE_ENTROPY_GOOD, NVM_FAKE_ENTROPY_STUCK, NVM_FAKE_ENTROPY_ABSENT } nvm_fake_entropy_t;
void nvm_fake_set_entropy(nvm_fake_entropy_t mode, uint8_t source);

#endif
