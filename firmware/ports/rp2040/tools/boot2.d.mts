export function crc32Mpeg2(bytes: Uint8Array): number;
export function boot2Block(code: Uint8Array): Uint8Array;
export function boot2Valid(block: Uint8Array): boolean;
