/* Pin map of the Adafruit Feather RP2040 Adalogger as the recorder uses it.
 * hardware/pins.json is the source of truth; test/rp2040-tools.test.ts checks that this header
 * agrees with it, pin for pin. */
#ifndef RP2040_BOARD_PINS_H
#define RP2040_BOARD_PINS_H

#define BOARD_XOSC_HZ 12000000u

#define PIN_SD_SCK 18u
#define PIN_SD_MOSI 19u
#define PIN_SD_MISO 20u
#define PIN_SD_CS 23u          /* plain GPIO, active low */
#define PIN_SD_DETECT 16u      /* pull-up; level 1 = card present (verify on hardware) */
#define SD_DETECT_PRESENT_LEVEL 1u
#define PIN_BUTTON 7u          /* pull-up; level 0 = pressed */
#define PIN_LED 13u            /* level 1 = on */
#define PIN_MIC 26u            /* ADC0: MAX9814 output */
#define MIC_ADC_CHANNEL 0u
#define PIN_VBAT 29u           /* ADC3: battery through a 1:2 divider */
#define VBAT_ADC_CHANNEL 3u
#define VBAT_DIVIDER_RATIO 2u

#endif
