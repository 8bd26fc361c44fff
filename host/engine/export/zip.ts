/**
 * A small ZIP writer over node:zlib, for `recorder export --zip`: no stock `zip` is guaranteed on
 * a parent's computer, and every unzip tool (Windows Explorer, macOS Archive Utility, `unzip`)
 * reads this subset of the format (PKWARE APPNOTE 6.3: local headers, central directory, end
 * record; UTF-8 names, flag bit 11). Small files are deflated (zlib's raw deflate), large ones
 * (the audio, which hardly compresses) stored and streamed, never held in memory whole. No ZIP64:
 * a file or an archive of 4 GiB or more is refused (export to a folder instead).
 */
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as nodeFs from 'node:fs/promises';
import { crc32, deflateRawSync } from 'node:zlib';

/** Files up to this size are deflated in memory; larger ones are stored. */
const DEFLATE_MAX = 16 << 20;
const LIMIT = 0xffffffff;
const PIECE = 1 << 20;

export interface ZipSource {
  /** Name in the archive, '/'-separated. */
  name: string;
  path: string;
}

export class ZipLimitError extends Error {}

function dosDateTime(d: Date): { time: number; date: number } {
  const year = Math.max(1980, d.getFullYear());
  return { time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1), date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate() };
}

async function writeAll(fh: FileHandle, buf: Buffer, pos: number): Promise<number> {
  let o = 0;
  while (o < buf.length) o += (await fh.write(buf, o, buf.length - o, pos + o)).bytesWritten;
  return pos + buf.length;
}

/** Reads a file in pieces, calling `each` in order. */
async function eachPiece(fs: typeof nodeFs, p: string, each: (b: Buffer) => Promise<void> | void): Promise<void> {
  const fh = await fs.open(p, constants.O_RDONLY);
  try {
    const buf = Buffer.alloc(PIECE);
    for (let pos = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, PIECE, pos);
      if (bytesRead === 0) break;
      await each(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

/** Writes the archive to `out` (created, never replacing a file). */
export async function writeZip(out: string, files: ZipSource[], o: { fs?: typeof nodeFs; date?: Date } = {}): Promise<void> {
  const fs = o.fs ?? nodeFs;
  const { time, date } = dosDateTime(o.date ?? new Date());
  const fh = await fs.open(out, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  const central: Buffer[] = [];
  let pos = 0;
  try {
    for (const f of files) {
      const name = Buffer.from(f.name, 'utf8');
      const size = (await fs.stat(f.path)).size;
      if (size >= LIMIT) throw new ZipLimitError(`${f.name} is 4 GiB or more, too large for a ZIP file without ZIP64`);
      let crc = 0;
      let method = 0;
      let body: Buffer | null = null;
      if (size <= DEFLATE_MAX) {
        const data = Buffer.from(await fs.readFile(f.path));
        crc = crc32(data);
        const deflated = deflateRawSync(data, { level: 9 });
        if (deflated.length < data.length) [method, body] = [8, deflated];
        else body = data;
      } else {
        await eachPiece(fs, f.path, (b) => void (crc = crc32(b, crc)));
      }
      const csize = body ? body.length : size;
      const offset = pos;
      if (offset >= LIMIT) throw new ZipLimitError('the bundle is 4 GiB or more, too large for a ZIP file without ZIP64');
      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(20, 4); // version needed: 2.0 (deflate)
      local.writeUInt16LE(0x0800, 6); // UTF-8 names
      local.writeUInt16LE(method, 8);
      local.writeUInt16LE(time, 10);
      local.writeUInt16LE(date, 12);
      local.writeUInt32LE(crc >>> 0, 14);
      local.writeUInt32LE(csize, 18);
      local.writeUInt32LE(size, 22);
      local.writeUInt16LE(name.length, 26);
      local.writeUInt16LE(0, 28);
      pos = await writeAll(fh, Buffer.concat([local, name]), pos);
      if (body) pos = await writeAll(fh, body, pos);
      else {
        let copied = 0;
        await eachPiece(fs, f.path, async (b) => {
          pos = await writeAll(fh, b, pos);
          copied += b.length;
        });
        if (copied !== size) throw new Error(`${f.name} changed while it was being put in the ZIP file`);
      }
      const c = Buffer.alloc(46);
      c.writeUInt32LE(0x02014b50, 0);
      c.writeUInt16LE((3 << 8) | 20, 4); // made by: Unix, 2.0
      c.writeUInt16LE(20, 6);
      c.writeUInt16LE(0x0800, 8);
      c.writeUInt16LE(method, 10);
      c.writeUInt16LE(time, 12);
      c.writeUInt16LE(date, 14);
      c.writeUInt32LE(crc >>> 0, 16);
      c.writeUInt32LE(csize, 20);
      c.writeUInt32LE(size, 24);
      c.writeUInt16LE(name.length, 28);
      // extra, comment, disk, internal attributes: 0
      c.writeUInt32LE((0o100644 << 16) >>> 0, 38); // a regular file, rw-r--r--
      c.writeUInt32LE(offset, 42);
      central.push(c, name);
    }
    if (files.length > 0xffff) throw new ZipLimitError('more than 65535 files');
    const cd = Buffer.concat(central);
    if (pos + cd.length >= LIMIT) throw new ZipLimitError('the bundle is 4 GiB or more, too large for a ZIP file without ZIP64');
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(files.length, 8);
    end.writeUInt16LE(files.length, 10);
    end.writeUInt32LE(cd.length, 12);
    end.writeUInt32LE(pos, 16);
    pos = await writeAll(fh, Buffer.concat([cd, end]), pos);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
