#include "rec/err.h"

const char *rec_err_name(int err)
{
    switch (err) {
    case REC_OK: return "OK";
    case REC_E_IO: return "E_IO";
    case REC_E_TIMEOUT: return "E_TIMEOUT";
    case REC_E_NOCARD: return "E_NOCARD";
    case REC_E_BADFS: return "E_BADFS";
    case REC_E_NOSPC: return "E_NOSPC";
    case REC_E_NOENT: return "E_NOENT";
    case REC_E_EXIST: return "E_EXIST";
    case REC_E_INVAL: return "E_INVAL";
    case REC_E_RANGE: return "E_RANGE";
    case REC_E_BUSY: return "E_BUSY";
    case REC_E_CORRUPT: return "E_CORRUPT";
    case REC_E_MISMATCH: return "E_MISMATCH";
    case REC_E_FULL: return "E_FULL";
    case REC_E_UNSUPPORTED: return "E_UNSUPPORTED";
    case REC_E_TOOBIG: return "E_TOOBIG";
    case REC_E_NOKEY: return "E_NOKEY";
    case REC_E_ENTROPY: return "E_ENTROPY";
    default: return "E_UNKNOWN";
    }
}
