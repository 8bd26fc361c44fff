/* FAT32 volumes: mount (boot sector, MBR partition, FSInfo, free count), sync, statfs and
 * format. */
#include "fat_internal.h"

/* ---- mount ---- */

void rec_fat_set_time(rec_fat_t *fs, uint16_t fat_date, uint16_t fat_time)
{
    fs->now_date = fat_date;
    fs->now_time = fat_time;
}

static bool is_pow2(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

/* Validates the boot sector in `b` for a volume starting at part_lba and spanning at most
 * avail blocks. Fills the geometry of fs. */
static int parse_bpb(rec_fat_t *fs, const uint8_t *b, uint32_t part_lba, uint32_t avail)
{
    if (b[510] != 0x55 || b[511] != 0xAA)
        return REC_E_BADFS;
    if (b[0] != 0xEB && b[0] != 0xE9)
        return REC_E_BADFS;
    if (rec_get_u16(&b[11]) != BS)
        return REC_E_BADFS;
    uint32_t spc = b[13];
    if (!is_pow2(spc) || spc > 128)
        return REC_E_BADFS;
    uint32_t reserved = rec_get_u16(&b[14]);
    uint32_t nfats = b[16];
    if (reserved == 0 || nfats < 1 || nfats > 2)
        return REC_E_BADFS;
    /* FAT32: no fixed root directory, 16-bit sizes zero. */
    if (rec_get_u16(&b[17]) != 0 || rec_get_u16(&b[19]) != 0 || rec_get_u16(&b[22]) != 0)
        return REC_E_BADFS;
    uint32_t total = rec_get_u32(&b[32]);
    uint32_t fatsz = rec_get_u32(&b[36]);
    uint16_t ext_flags = rec_get_u16(&b[40]);
    uint16_t version = rec_get_u16(&b[42]);
    uint32_t root = rec_get_u32(&b[44]);
    uint32_t fsinfo = rec_get_u16(&b[48]);
    if (version != 0)
        return REC_E_BADFS;
    if (total == 0 || total > avail || fatsz == 0)
        return REC_E_BADFS;
    if (fatsz > (total - reserved) / nfats || reserved >= total)
        return REC_E_BADFS;
    uint32_t meta = reserved + nfats * fatsz;
    if (meta >= total)
        return REC_E_BADFS;
    uint32_t clusters = (total - meta) / spc;
    if (clusters < FAT32_MIN_CLUSTERS || clusters > FAT32_MAX_CLUSTERS)
        return REC_E_BADFS;
    if ((uint64_t)fatsz * (BS / 4) < (uint64_t)clusters + 2)
        return REC_E_BADFS;
    if (root < 2 || root - 2 >= clusters)
        return REC_E_BADFS;
    if (ext_flags & 0x80u)
        return REC_E_UNSUPPORTED; /* FAT mirroring disabled: not supported */

    fs->part_lba = part_lba;
    fs->fat_lba = part_lba + reserved;
    fs->fat_blocks = fatsz;
    fs->num_fats = (uint8_t)nfats;
    fs->blocks_per_cluster = (uint8_t)spc;
    fs->data_lba = part_lba + meta;
    fs->cluster_count = clusters;
    fs->root_cluster = root;
    fs->fsinfo_lba = (fsinfo != 0 && fsinfo != 0xFFFFu && fsinfo < reserved) ? part_lba + fsinfo : 0;
    fs->volume_id = rec_get_u32(&b[67]);
    return REC_OK;
}

static int mount(rec_fat_t *fs, const rec_bd_t *bd);

int rec_fat_mount(rec_fat_t *fs, const rec_bd_t *bd)
{
    return rec_fat_mount_lent(fs, bd, NULL, 0);
}

int rec_fat_mount_lent(rec_fat_t *fs, const rec_bd_t *bd, uint8_t *scratch, uint32_t scratch_bytes)
{
    if (fs == NULL || bd == NULL)
        return REC_E_INVAL;
    memset(fs, 0, sizeof *fs);
    rec_fat_lend_scratch(fs, scratch, scratch_bytes); /* taken back before returning */
    int rc = mount(fs, bd);
    rec_fat_lend_scratch(fs, NULL, 0);
    return rc;
}

static int mount(rec_fat_t *fs, const rec_bd_t *bd)
{
    fs->bd = bd;
    fs->cache_lba = NO_LBA;
    fs->now_date = DEFAULT_DATE;
    if (bd->block_count == 0)
        return REC_E_BADFS;

    int rc = rec_bd_read(bd, 0, fs->cache, 1);
    if (rc != REC_OK)
        return rc;
    rc = parse_bpb(fs, fs->cache, 0, bd->block_count);
    if (rc == REC_E_BADFS && fs->cache[510] == 0x55 && fs->cache[511] == 0xAA) {
        /* Not a volume: try the first MBR partition. */
        const uint8_t *pe = &fs->cache[446];
        uint8_t type = pe[4];
        uint32_t start = rec_get_u32(&pe[8]);
        uint32_t size = rec_get_u32(&pe[12]);
        if (type == 0 || type == 0xEE || start == 0 || start >= bd->block_count || size == 0)
            return REC_E_BADFS;
        if (size > bd->block_count - start)
            size = bd->block_count - start;
        rc = rec_bd_read(bd, start, fs->cache, 1);
        if (rc != REC_OK)
            return rc;
        rc = parse_bpb(fs, fs->cache, start, size);
    }
    if (rc != REC_OK)
        return rc;

    /* FSInfo: only a hint, used only if its signatures are right. */
    fs->next_free = 2;
    if (fs->fsinfo_lba != 0) {
        rc = rec_bd_read(bd, fs->fsinfo_lba, fs->cache, 1);
        if (rc != REC_OK)
            return rc;
        if (rec_get_u32(&fs->cache[0]) == 0x41615252u && rec_get_u32(&fs->cache[484]) == 0x61417272u &&
            rec_get_u32(&fs->cache[508]) == 0xAA550000u) {
            uint32_t nf = rec_get_u32(&fs->cache[492]);
            if (cluster_valid(fs, nf))
                fs->next_free = nf;
        } else {
            fs->fsinfo_lba = 0;
        }
    }

    /* Count free clusters from FAT #1, many blocks per read when memory was lent (a 32 GB
     * card has a 4 MiB FAT: thousands of single-block reads otherwise). */
    uint32_t free_count = 0;
    uint32_t last = fs->cluster_count + 1;
    uint32_t fat_used = last / (BS / 4) + 1;
    uint8_t *buf = fs->scratch_bytes >= BS ? fs->scratch : fs->cache;
    uint32_t per_read = fs->scratch_bytes >= BS ? fs->scratch_bytes / BS : 1;
    for (uint32_t blk = 0; blk < fat_used; blk += per_read) {
        uint32_t k = fat_used - blk < per_read ? fat_used - blk : per_read;
        rc = rec_bd_read(bd, fs->fat_lba + blk, buf, k);
        if (rc != REC_OK)
            return rc;
        for (uint32_t i = 0; i < k * (BS / 4); i++) {
            uint32_t c = blk * (BS / 4) + i;
            if (c < 2)
                continue;
            if (c > last)
                break;
            if ((rec_get_u32(&buf[i * 4]) & FAT_MASK) == 0)
                free_count++;
        }
    }
    uint32_t root_val;
    fs->cache_lba = NO_LBA;
    fs->free_count = free_count;
    /* The root directory must at least start a valid chain. */
    rc = fat_get(fs, fs->root_cluster, &root_val);
    if (rc != REC_OK)
        return rc;
    if (root_val == 0 || root_val == 1 || root_val == FAT_BAD ||
        (root_val < 0x0FFFFFF8u && !cluster_valid(fs, root_val)))
        return REC_E_BADFS;
    /* FSInfo is rewritten with the true count on the next sync if it differed. */
    if (fs->fsinfo_lba != 0) {
        rc = cache_load(fs, fs->fsinfo_lba);
        if (rc != REC_OK)
            return rc;
        if (rec_get_u32(&fs->cache[488]) != free_count)
            fs->fsinfo_dirty = true;
    }
    fs->mounted = true;
    return REC_OK;
}

int rec_fat_sync(rec_fat_t *fs)
{
    if (fs == NULL || !fs->mounted)
        return REC_E_INVAL;
    return fat_barrier(fs);
}

int rec_fat_statfs(rec_fat_t *fs, uint64_t *total_bytes, uint64_t *free_bytes)
{
    if (fs == NULL || !fs->mounted)
        return REC_E_INVAL;
    if (total_bytes)
        *total_bytes = (uint64_t)fs->cluster_count * cluster_bytes(fs);
    if (free_bytes)
        *free_bytes = (uint64_t)fs->free_count * cluster_bytes(fs);
    return REC_OK;
}

/* ---- format ---- */

static int write_block(const rec_bd_t *bd, uint32_t lba, const uint8_t *b)
{
    return rec_bd_write(bd, lba, b, 1);
}

int rec_fat_format(const rec_bd_t *bd, const char *label, uint32_t volume_id, uint32_t reserved_tail_blocks)
{
    if (bd == NULL || reserved_tail_blocks >= bd->block_count)
        return REC_E_INVAL;
    uint8_t lab[11];
    memset(lab, ' ', 11);
    bool has_label = label != NULL && label[0] != '\0';
    if (has_label) {
        size_t n = strlen(label);
        if (n > 11)
            return REC_E_INVAL;
        for (size_t i = 0; i < n; i++) {
            char ch = label[i];
            if (ch != ' ' && !fat_name_char_ok(ch))
                return REC_E_INVAL;
            lab[i] = (uint8_t)fat_to_upper(ch);
        }
        if (lab[0] == ' ')
            return REC_E_INVAL;
    } else {
        memcpy(lab, "NO NAME    ", 11);
    }

    const uint32_t total = bd->block_count - reserved_tail_blocks;
    const uint32_t reserved = 32, nfats = 2;
    /* Cluster size as mkfs.fat / Microsoft format choose it for FAT32. */
    uint64_t bytes = (uint64_t)total * BS;
    uint32_t spc;
    if (bytes <= 260ull * 1024 * 1024)
        spc = 1;
    else if (bytes <= 8ull * 1024 * 1024 * 1024)
        spc = 8;
    else if (bytes <= 16ull * 1024 * 1024 * 1024)
        spc = 16;
    else if (bytes <= 32ull * 1024 * 1024 * 1024)
        spc = 32;
    else
        spc = 64;

    uint32_t fatsz = 0, clusters = 0;
    for (;;) {
        if (total <= reserved + 2)
            return REC_E_UNSUPPORTED;
        /* Fixed point: the FAT must hold clusters + 2 entries. */
        fatsz = 1;
        for (int iter = 0; iter < 64; iter++) {
            if (reserved + nfats * fatsz >= total)
                return REC_E_UNSUPPORTED;
            clusters = (total - reserved - nfats * fatsz) / spc;
            uint32_t need = (uint32_t)(((uint64_t)clusters + 2 + BS / 4 - 1) / (BS / 4));
            if (need <= fatsz)
                break;
            fatsz = need;
        }
        /* Align the data area to the cluster size (for the card's flash pages). */
        while ((reserved + nfats * fatsz) % spc != 0)
            fatsz++;
        if (reserved + nfats * fatsz >= total)
            return REC_E_UNSUPPORTED;
        clusters = (total - reserved - nfats * fatsz) / spc;
        if (clusters >= FAT32_MIN_CLUSTERS || spc == 1)
            break;
        spc /= 2;
    }
    if (clusters < FAT32_MIN_CLUSTERS)
        return REC_E_UNSUPPORTED;
    REC_ASSERT(clusters <= FAT32_MAX_CLUSTERS); /* 2^32 blocks at 64 per cluster is below */
    const uint32_t data_lba = reserved + nfats * fatsz;
    const uint32_t root = 2;

    uint8_t b[BS];
    int rc;
    /* 1. Invalidate the old boot sector and clear the reserved area. */
    memset(b, 0, BS);
    for (uint32_t i = 0; i < reserved; i++) {
        rc = write_block(bd, i, b);
        if (rc != REC_OK)
            return rc;
    }
    /* 2. FATs, 3. root directory cluster */
    for (uint32_t k = 0; k < nfats; k++) {
        for (uint32_t i = 0; i < fatsz; i++) {
            memset(b, 0, BS);
            if (i == 0) {
                rec_put_u32(&b[0], 0x0FFFFFF8u);
                rec_put_u32(&b[4], 0x0FFFFFFFu);
                rec_put_u32(&b[8], FAT_EOC); /* root directory */
            }
            rc = write_block(bd, reserved + k * fatsz + i, b);
            if (rc != REC_OK)
                return rc;
        }
    }
    for (uint32_t i = 0; i < spc; i++) {
        memset(b, 0, BS);
        if (i == 0 && has_label) {
            memcpy(b, lab, 11);
            b[11] = ATTR_VOLUME;
            rec_put_u16(&b[22], 0);
            rec_put_u16(&b[24], DEFAULT_DATE);
        }
        rc = write_block(bd, data_lba + (root - 2) * spc + i, b);
        if (rc != REC_OK)
            return rc;
    }
    /* 4. FSInfo and its backup */
    memset(b, 0, BS);
    rec_put_u32(&b[0], 0x41615252u);
    rec_put_u32(&b[484], 0x61417272u);
    rec_put_u32(&b[488], clusters - 1);
    rec_put_u32(&b[492], root + 1);
    rec_put_u32(&b[508], 0xAA550000u);
    rc = write_block(bd, 1, b);
    if (rc == REC_OK)
        rc = write_block(bd, 7, b);
    if (rc != REC_OK)
        return rc;
    /* Third boot sector (signature only), and its backup. */
    memset(b, 0, BS);
    b[510] = 0x55;
    b[511] = 0xAA;
    rc = write_block(bd, 2, b);
    if (rc == REC_OK)
        rc = write_block(bd, 8, b);
    if (rc != REC_OK)
        return rc;
    /* 5. Boot sector: backup first, the primary last, so a cut format is not a volume. */
    memset(b, 0, BS);
    b[0] = 0xEB;
    b[1] = 0x58;
    b[2] = 0x90;
    memcpy(&b[3], "RECORDER", 8);
    rec_put_u16(&b[11], BS);
    b[13] = (uint8_t)spc;
    rec_put_u16(&b[14], (uint16_t)reserved);
    b[16] = (uint8_t)nfats;
    b[21] = 0xF8;              /* media: fixed disk */
    rec_put_u16(&b[24], 63);          /* sectors per track (geometry is only informative) */
    rec_put_u16(&b[26], 255);         /* heads */
    rec_put_u32(&b[28], 0);           /* hidden sectors */
    rec_put_u32(&b[32], total);
    rec_put_u32(&b[36], fatsz);
    rec_put_u16(&b[40], 0);           /* FAT mirroring on */
    rec_put_u16(&b[42], 0);           /* version 0.0 */
    rec_put_u32(&b[44], root);
    rec_put_u16(&b[48], 1);           /* FSInfo */
    rec_put_u16(&b[50], 6);           /* backup boot sector */
    b[64] = 0x80;              /* drive number */
    b[66] = 0x29;              /* extended boot signature */
    rec_put_u32(&b[67], volume_id);
    memcpy(&b[71], lab, 11);
    memcpy(&b[82], "FAT32   ", 8);
    /* Boot code: "int 18h" (no bootable OS), then halt. */
    b[90] = 0xCD;
    b[91] = 0x18;
    b[92] = 0xEB;
    b[93] = 0xFE;
    b[510] = 0x55;
    b[511] = 0xAA;
    rc = write_block(bd, 6, b);
    if (rc == REC_OK)
        rc = rec_bd_sync(bd);
    if (rc == REC_OK)
        rc = write_block(bd, 0, b);
    if (rc == REC_OK)
        rc = rec_bd_sync(bd);
    return rc;
}
