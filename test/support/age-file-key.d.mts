/** An age v1 file split: the header up to and including "---", its 32-byte MAC, where the payload starts. */
export function ageParts(file: Buffer): { header: Buffer; mac: Buffer; payload: number };
/** Every (offset, file index) where the 16 bytes of `mem` at offset are the file key of one of `ages`. */
export function fileKeyHits(mem: Buffer, ages: Buffer[]): { offset: number; file: number }[];
/** Every offset of `mem` whose 16 bytes are the file key of the age file `age`. */
export function fileKeyOffsets(mem: Buffer, age: Buffer): number[];
