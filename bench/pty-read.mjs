#!/usr/bin/env node
// Reader side of the raw pty measurement: opens PATH with serialport (as the app does), sends one
// byte to start bench/ptyblast, counts BYTES bytes, prints {bytes, ms, cpu} and acknowledges.
//
//   node bench/pty-read.mjs PATH BYTES
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { SerialPort } from 'serialport';

const [path, bytesArg] = process.argv.slice(2);
const want = Number(bytesArg);
const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
await new Promise((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
const cpu0 = process.cpuUsage();
let got = 0;
let t0 = null;
await new Promise((resolve) => {
  port.on('data', (d) => {
    t0 ??= performance.now();
    got += d.length;
    if (got >= want) resolve();
  });
  port.write(Buffer.from([1]));
});
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
port.write(Buffer.from([2]), () => port.close(() => undefined));
console.log(JSON.stringify({ bytes: got, ms, cpu: { userUs: cpu.user, systemUs: cpu.system } }));
