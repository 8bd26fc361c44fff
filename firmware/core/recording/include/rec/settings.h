/* Persistent settings and identity, stored through the port (port_settings_load/save) as one
 * versioned blob with a CRC. The recording-number floor lives here too, so numbers are never
 * reused even after the card is formatted or replaced. */
#ifndef REC_SETTINGS_H
#define REC_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

#define REC_SETTINGS_MAGIC 0x54455352u /* "RSET" */
#define REC_SETTINGS_VERSION 1u
#define REC_SETTINGS_BLOB_SIZE 64u
#define REC_LABEL_MAX 32u

typedef struct {
    uint64_t device_id;
    char label[REC_LABEL_MAX + 1];  /* NUL terminated */
    uint32_t sample_rate;
    bool discreet;
    uint32_t next_number;           /* lowest number the next recording may take */
} rec_settings_t;

void rec_settings_defaults(rec_settings_t *s);
/* Encodes to the fixed blob (magic, version, size, fields, CRC-32 last). */
void rec_settings_encode(const rec_settings_t *s, uint8_t out[REC_SETTINGS_BLOB_SIZE]);
/* REC_E_CORRUPT when magic, version, size or CRC are wrong, or a field is out of range. */
int rec_settings_decode(const uint8_t in[REC_SETTINGS_BLOB_SIZE], rec_settings_t *s);
bool rec_settings_rate_valid(uint32_t rate);

#endif
