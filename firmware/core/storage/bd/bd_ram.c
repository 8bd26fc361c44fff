/* RAM block device with power-cut injection: see bd_ram.h. */
#include "rec/bd_ram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "rec/err.h"

static int ram_read(void *ctx, uint32_t lba, void *buf, uint32_t count)
{
    rec_bd_ram_t *r = ctx;
    if (count > r->bd.block_count || lba > r->bd.block_count - count)
        return REC_E_RANGE;
    if (r->fail_reads)
        return REC_E_IO;
    memcpy(buf, r->data + (size_t)lba * REC_BD_BLOCK_SIZE, (size_t)count * REC_BD_BLOCK_SIZE);
    r->reads++;
    r->blocks_read += count;
    return REC_OK;
}

static int ram_write(void *ctx, uint32_t lba, const void *buf, uint32_t count)
{
    rec_bd_ram_t *r = ctx;
    if (count > r->bd.block_count || lba > r->bd.block_count - count)
        return REC_E_RANGE;
    if (r->cut)
        return REC_E_IO;
    uint32_t land = count;
    bool cutting = false;
    if (r->cut_armed && r->cut_budget < count) {
        cutting = true;
        land = r->torn ? (uint32_t)r->cut_budget : 0;
    }
    memcpy(r->data + (size_t)lba * REC_BD_BLOCK_SIZE, buf, (size_t)land * REC_BD_BLOCK_SIZE);
    for (uint32_t i = 0; i < land; i++)
        r->written_map[(lba + i) / 8] |= (uint8_t)(1u << ((lba + i) % 8));
    r->blocks_written += land;
    r->writes++;
    if (cutting) {
        r->cut = true;
        r->cut_budget = 0;
        return REC_E_IO;
    }
    if (r->cut_armed)
        r->cut_budget -= count;
    return REC_OK;
}

static int ram_sync(void *ctx)
{
    rec_bd_ram_t *r = ctx;
    if (r->cut)
        return REC_E_IO;
    r->syncs++;
    return REC_OK;
}

static void setup(rec_bd_ram_t *r, uint8_t *data, uint8_t *map, uint32_t block_count)
{
    memset(r, 0, sizeof *r);
    r->data = data;
    r->written_map = map;
    r->bd.ctx = r;
    r->bd.read = ram_read;
    r->bd.write = ram_write;
    r->bd.sync = ram_sync;
    r->bd.block_count = block_count;
}

int rec_bd_ram_init(rec_bd_ram_t *r, uint32_t block_count)
{
    uint8_t *d = calloc(block_count, REC_BD_BLOCK_SIZE);
    uint8_t *m = calloc((size_t)block_count / 8 + 1, 1);
    if (d == NULL || m == NULL) {
        free(d);
        free(m);
        return -1;
    }
    setup(r, d, m, block_count);
    return 0;
}

int rec_bd_ram_init_from(rec_bd_ram_t *r, const void *image, size_t size)
{
    if (size % REC_BD_BLOCK_SIZE != 0 || size == 0)
        return -1;
    if (rec_bd_ram_init(r, (uint32_t)(size / REC_BD_BLOCK_SIZE)) != 0)
        return -1;
    memcpy(r->data, image, size);
    return 0;
}

void rec_bd_ram_free(rec_bd_ram_t *r)
{
    free(r->data);
    free(r->written_map);
    r->data = NULL;
    r->written_map = NULL;
}

void rec_bd_ram_restore(rec_bd_ram_t *r, const uint8_t *baseline)
{
    for (uint32_t i = 0; i < r->bd.block_count / 8 + 1; i++) {
        if (r->written_map[i] == 0)
            continue;
        for (uint32_t b = i * 8; b < i * 8 + 8 && b < r->bd.block_count; b++) {
            if (r->written_map[i] & (1u << (b % 8)))
                memcpy(r->data + (size_t)b * REC_BD_BLOCK_SIZE, baseline + (size_t)b * REC_BD_BLOCK_SIZE,
                       REC_BD_BLOCK_SIZE);
        }
        r->written_map[i] = 0;
    }
}

void rec_bd_ram_cut_after(rec_bd_ram_t *r, uint64_t blocks, bool torn)
{
    r->cut_armed = true;
    r->cut_budget = blocks;
    r->torn = torn;
    r->cut = false;
}

void rec_bd_ram_power_on(rec_bd_ram_t *r)
{
    r->cut_armed = false;
    r->cut = false;
    r->cut_budget = 0;
    r->reads = r->writes = r->syncs = 0;
    r->blocks_read = r->blocks_written = 0;
}

size_t rec_bd_ram_size(const rec_bd_ram_t *r)
{
    return (size_t)r->bd.block_count * REC_BD_BLOCK_SIZE;
}

int rec_bd_ram_load_file(rec_bd_ram_t *r, const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return -1;
    if (fseek(fp, 0, SEEK_END) != 0) {
        fclose(fp);
        return -1;
    }
    long size = ftell(fp);
    rewind(fp);
    if (size <= 0 || size % REC_BD_BLOCK_SIZE != 0 || rec_bd_ram_init(r, (uint32_t)(size / REC_BD_BLOCK_SIZE)) != 0) {
        fclose(fp);
        return -1;
    }
    size_t n = fread(r->data, 1, (size_t)size, fp);
    fclose(fp);
    if (n != (size_t)size) {
        rec_bd_ram_free(r);
        return -1;
    }
    return 0;
}

int rec_bd_ram_save_file(const rec_bd_ram_t *r, const char *path)
{
    /* Sparse: only non-zero blocks are written into a file truncated to the size. */
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        return -1;
    static const uint8_t zero[REC_BD_BLOCK_SIZE];
    int rc = 0;
    for (uint32_t b = 0; b < r->bd.block_count && rc == 0; b++) {
        const uint8_t *p = r->data + (size_t)b * REC_BD_BLOCK_SIZE;
        if (memcmp(p, zero, REC_BD_BLOCK_SIZE) == 0)
            continue;
        if (fseek(fp, (long)b * REC_BD_BLOCK_SIZE, SEEK_SET) != 0 || fwrite(p, 1, REC_BD_BLOCK_SIZE, fp) != REC_BD_BLOCK_SIZE)
            rc = -1;
    }
    if (rc == 0 && (fflush(fp) != 0 || ftruncate(fileno(fp), (off_t)rec_bd_ram_size(r)) != 0))
        rc = -1;
    if (fclose(fp) != 0)
        rc = -1;
    return rc;
}
