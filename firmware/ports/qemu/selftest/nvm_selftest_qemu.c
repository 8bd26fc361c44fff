/* The NVM and entropy self-test of the QEMU port (ports/selftest/port_nvm_selftest.h) on the
 * Cortex-M3 of QEMU's lm3s6965evb, with the port's own nvm.c: the NVM is the host file
 * er1-nvm.bin in QEMU's working directory, the entropy the host's /dev/urandom, both through
 * semihosting. Output and exit status through semihosting too (needs
 * `-semihosting-config enable=on,target=native`); test/qemu-nvm.test.ts runs it, twice in the
 * same folder for persistence. Standalone: no interrupts, nothing of the port but nvm.c and
 * semihost.c. Prints the measured stack high-water mark last. */
#include <stdint.h>

#define SELFTEST_NAME "nvm selftest"
#include "qemu_selftest_runtime.h"

#include "port_nvm_selftest.h"

int main(void)
{
    bool ok = nvm_selftest_run();
    put("stack used ");
    put_uint(stack_used());
    put(" bytes\n");
    return ok ? 0 : 1;
}
