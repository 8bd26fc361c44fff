/* Persistent settings and identity, stored through the port (port_settings_load/save) as one
 * versioned blob with a CRC. The recording-number floor lives here too, so numbers are never
 * reused even after the card is formatted or replaced. */
#ifndef REC_SETTINGS_H
#define REC_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "rec_protocol.h"

/* The blob is SETTINGS_BLOB of the protocol schema (magic RP_CARD_SETTINGS_MAGIC). */
#define REC_SETTINGS_VERSION RP_CARD_SETTINGS_VERSION
#define REC_SETTINGS_BLOB_SIZE RP_SETTINGS_BLOB_SIZE
#define REC_LABEL_MAX (RP_SETTINGS_BLOB_OFF_SAMPLE_RATE - RP_SETTINGS_BLOB_OFF_LABEL)

typedef struct {
    uint64_t device_id;
    char label[REC_LABEL_MAX + 1];  /* NUL terminated */
    uint32_t sample_rate;
    bool discreet;
    uint8_t button_scheme;          /* RP_BUTTON_SCHEME_* (what the button's gestures do) */
    uint32_t next_number;           /* lowest number the next recording may take */
} rec_settings_t;

void rec_settings_defaults(rec_settings_t *s);
/* Encodes to the fixed blob (magic, version, size, fields, CRC-32 last). */
void rec_settings_encode(const rec_settings_t *s, uint8_t out[REC_SETTINGS_BLOB_SIZE]);
/* REC_E_CORRUPT when magic, version, size or CRC are wrong, or a field is out of range. */
int rec_settings_decode(const uint8_t in[REC_SETTINGS_BLOB_SIZE], rec_settings_t *s);
bool rec_settings_rate_valid(uint32_t rate);
/* A button scheme this firmware knows (RP_BUTTON_SCHEME_*). */
bool rec_settings_scheme_valid(uint32_t scheme);

#endif
