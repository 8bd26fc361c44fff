/* Second-stage boot loader: the first 256 bytes of flash (RP2040 datasheet 2.8.1.3).
 *
 * The boot ROM copies these 256 bytes to SRAM (0x20041f00), checks the CRC-32 in the last 4 bytes
 * (computed at build time by tools/boot2.mjs over the first 252), and runs them with LR = 0.
 * This is the generic 03h variant: it works with any SPI NOR flash. It configures the SSI for
 * execute-in-place with the plain serial READ command (03h, 24-bit address, 32-bit frames) at
 * clk_sys / 4, then points VTOR at the vector table at flash + 0x100, loads the stack pointer and
 * jumps to the reset handler. Written from the register descriptions in 4.10.13 (SSI).
 * Position independent: only PC-relative literal loads and relative branches. */
    .syntax unified
    .cpu cortex-m0plus
    .thumb

    .equ XIP_SSI_BASE,   0x18000000
    .equ SSI_CTRLR0,     0x00
    .equ SSI_CTRLR1,     0x04
    .equ SSI_SSIENR,     0x08
    .equ SSI_BAUDR,      0x14
    .equ SSI_SPI_CTRLR0, 0xf4
    .equ FLASH_CLKDIV,   4            /* Adafruit Feather RP2040 Adalogger: PICO_FLASH_SPI_CLKDIV 4 */
    /* CTRLR0: standard SPI frame format, DFS_32 = 31 (32-bit frames), TMOD = 3 (EEPROM read) */
    .equ CTRLR0_XIP,     (31 << 16) | (3 << 8)
    /* SPI_CTRLR0: XIP_CMD = 03h, INST_L = 2 (8-bit instruction), ADDR_L = 6 (24-bit address),
     * TRANS_TYPE = 0 (instruction and address in standard SPI) */
    .equ SPI_CTRLR0_XIP, (0x03 << 24) | (2 << 8) | (6 << 2)
    .equ XIP_BASE,       0x10000000
    .equ PPB_VTOR,       0xe000ed08

    .section .boot2, "ax"
    .global boot2_entry
    .type boot2_entry, %function
    .thumb_func
boot2_entry:
    push {lr}
    ldr r3, =XIP_SSI_BASE
    movs r1, #0
    str r1, [r3, #SSI_SSIENR]       /* SSI off while it is configured */
    movs r1, #FLASH_CLKDIV
    str r1, [r3, #SSI_BAUDR]
    ldr r1, =CTRLR0_XIP
    str r1, [r3, #SSI_CTRLR0]
    ldr r1, =SPI_CTRLR0_XIP
    ldr r0, =(XIP_SSI_BASE + SSI_SPI_CTRLR0)
    str r1, [r0]
    movs r1, #0
    str r1, [r3, #SSI_CTRLR1]       /* NDF = 0: one data frame per XIP access */
    movs r1, #1
    str r1, [r3, #SSI_SSIENR]       /* SSI on: the XIP window now reads flash */

    pop {r0}
    cmp r0, #0
    beq vector_into_flash
    bx r0                           /* called by a debugger or the SDK-style loader: return */
vector_into_flash:
    ldr r0, =(XIP_BASE + 0x100)
    ldr r1, =PPB_VTOR
    str r0, [r1]
    ldmia r0, {r0, r1}
    msr msp, r0
    bx r1
    .ltorg
