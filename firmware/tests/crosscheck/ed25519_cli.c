/* The firmware's Ed25519 (rec/ed25519.h) on the command line, for the cross-check against
 * node:crypto (test/firmware-ed25519.test.ts). One request per line on stdin, one answer per line
 * on stdout; hex everywhere, "-" for an empty message:
 *
 *     keypair SEED              -> PUBLIC_KEY
 *     sign SEED MESSAGE         -> SIGNATURE
 *     verify PUBLIC_KEY MESSAGE SIGNATURE -> 1 or 0
 *
 * Anything malformed prints "error ..." and exits 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_hex.h"
#include "rec/ed25519.h"

#define MAX_MESSAGE 4096
#define MAX_LINE (3 * 2 * MAX_MESSAGE)

static void parse_exact(const char *tok, unsigned char *out, size_t size, const char *what)
{
    if (parse_hex(tok, out, size, what) != size) fail(what, "bad length");
}

int main(void)
{
    static char line[MAX_LINE];
    static unsigned char msg[MAX_MESSAGE];
    while (fgets(line, sizeof line, stdin) != NULL) {
        if (strchr(line, '\n') == NULL) fail("line", "too long");
        const char *cmd = strtok(line, " \n");
        if (cmd == NULL) continue;
        unsigned char seed[REC_ED25519_SEED_SIZE], pub[REC_ED25519_PUBLIC_KEY_SIZE];
        unsigned char sig[REC_ED25519_SIGNATURE_SIZE];
        rec_ed25519_keypair_t key;
        if (strcmp(cmd, "keypair") == 0) {
            parse_exact(strtok(NULL, " \n"), seed, sizeof seed, "seed");
            if (rec_ed25519_keypair_from_seed(&key, seed) != 0) fail("keypair", "failed");
            print_hex(key.public_key, sizeof key.public_key);
            printf("\n");
        } else if (strcmp(cmd, "sign") == 0) {
            parse_exact(strtok(NULL, " \n"), seed, sizeof seed, "seed");
            size_t len = parse_hex(strtok(NULL, " \n"), msg, sizeof msg, "message");
            if (rec_ed25519_keypair_from_seed(&key, seed) != 0 || rec_ed25519_sign(sig, msg, len, &key) != 0) {
                fail("sign", "failed");
            }
            print_hex(sig, sizeof sig);
            printf("\n");
        } else if (strcmp(cmd, "verify") == 0) {
            parse_exact(strtok(NULL, " \n"), pub, sizeof pub, "public key");
            size_t len = parse_hex(strtok(NULL, " \n"), msg, sizeof msg, "message");
            parse_exact(strtok(NULL, " \n"), sig, sizeof sig, "signature");
            int r = rec_ed25519_verify(sig, msg, len, pub);
            if (r < 0) fail("verify", "failed");
            printf("%d\n", r);
        } else {
            fail("command", cmd);
        }
        fflush(stdout);
    }
    return 0;
}
