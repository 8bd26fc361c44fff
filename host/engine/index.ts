/** Public surface of the engine (no Ink, no React). */
export { createEngine, appVersion, type Engine, type EngineOptions } from './engine.js';
export type { SyncOptions, SyncResult } from './sync.js';
export * from './events.js';
export { EngineError, DeviceError } from './errors.js';
export { discover, choosePort, isRecorder, type Candidate, type PortInfoLike } from './discovery.js';
export { openSerial, type Transport, type TransportOpener } from './transport.js';
export { verifyLibraryFile, verifyLibraryFolder, verifyPaths, type FileVerification, type LibraryVerification } from './verify.js';
export { adviceFor } from './evidence/advice.js';
export { describeEvent } from './describe.js';
export { loudnessOfWavFile, loudnessLevels } from './loudness.js';
export { MANIFEST_VERSION, sanitiseLabel, recordingBaseName, type Manifest } from './library.js';
export { cardVerdict, CARD_SPEED_MARGIN, DEFAULT_MINIMUM_HOURS, type CardTestResult, type CardVerdict, type CardProblem, type ButtonSchemeName } from './card-test.js';
