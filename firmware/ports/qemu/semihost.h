/* ARM semihosting (the "Semihosting for AArch32 and AArch64" specification): calls into the
 * debugger, here QEMU started with `-semihosting-config enable=on,target=native`, made with
 * BKPT 0xAB on the Cortex-M3. The QEMU port uses it to exit with a status, and for the host file
 * that stands in for the device's non-volatile memory and for the host's /dev/urandom (nvm.c).
 *
 * Without semihosting the BKPT escalates to a HardFault; the port's HardFault handler then makes
 * the call return -1 (failure) instead of resetting (startup.c), so every caller sees an error. */
#ifndef QEMU_SEMIHOST_H
#define QEMU_SEMIHOST_H

#include <stdint.h>

#define SEMIHOST_SYS_OPEN 0x01u
#define SEMIHOST_SYS_CLOSE 0x02u
#define SEMIHOST_SYS_WRITE0 0x04u
#define SEMIHOST_SYS_WRITE 0x05u
#define SEMIHOST_SYS_READ 0x06u
#define SEMIHOST_SYS_SEEK 0x0Au
#define SEMIHOST_SYS_FLEN 0x0Cu
#define SEMIHOST_SYS_EXIT_EXTENDED 0x20u

/* SYS_OPEN modes: the index of the ISO C fopen mode in "r rb r+ r+b w wb w+ w+b ...". */
#define SEMIHOST_OPEN_RB 1u
#define SEMIHOST_OPEN_RPLUS_B 3u
#define SEMIHOST_OPEN_WPLUS_B 7u

/* The BKPT 0xAB immediate, as a halfword of Thumb code (the HardFault handler looks for it). */
#define SEMIHOST_BKPT_INSN 0xBEABu

/* One call: op in r0, the parameter block's address in r1; returns r0. */
int32_t semihost_call(uint32_t op, const volatile void *arg);

#endif
