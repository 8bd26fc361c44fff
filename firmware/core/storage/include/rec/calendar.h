/* Proleptic Gregorian calendar in UTC (Howard Hinnant's days_from_civil and civil_from_days):
 * the one conversion between days since 1970-01-01 and year/month/day, used for FAT time
 * stamps (store.c) and the WAV header's dates (wav.c). */
#ifndef REC_CALENDAR_H
#define REC_CALENDAR_H

#include <stdint.h>

/* Days since 1970-01-01 of year y, month m (1..12), day d (1..31); negative before 1970. */
int64_t rec_days_from_civil(int64_t y, unsigned m, unsigned d);
/* The inverse: year, month (1..12) and day (1..31) of day z since 1970-01-01. */
void rec_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif
