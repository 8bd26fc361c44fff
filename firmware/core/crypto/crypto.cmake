# The crypto component: Ed25519 (keypair from seed, sign, verify) and SHA-512 from orlp/ed25519,
# a ref10 derivative, compiled straight from the npm package ed25519-supercop that ships its C
# sources (README.md in this folder says why this implementation and what our wrapper adds).
# Nothing of it is copied into the project: the package is a pinned devDependency of the
# repository's package.json, installed by `npm ci`.
#
# Included from a firmware CMake project (the host and QEMU builds, the RP2040 port); defines the
# static library rec_crypto (public header rec/ed25519.h). Uses REC_WARNINGS when the project
# defines it.
set(REC_CRYPTO_DIR ${CMAKE_CURRENT_LIST_DIR})
get_filename_component(REC_REPO_ROOT ${CMAKE_CURRENT_LIST_DIR}/../../.. ABSOLUTE)
# Third-party C sources come from npm packages that package.json pins to one exact version in
# devDependencies; `npm ci` installs them. rec_require_npm_package(PACKAGE WHAT OUT_DIR) fails the
# configure step with a plain message when the pin is missing or not exact, when the package is
# not installed, or when the installed version is not the pinned one, and sets OUT_DIR to the
# package's folder (a cache entry, so a checkout elsewhere can point to it).
file(READ ${REC_REPO_ROOT}/package.json REC_ROOT_PACKAGE_JSON)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${REC_REPO_ROOT}/package.json)
function(rec_require_npm_package package what out_dir)
  set(${out_dir} ${REC_REPO_ROOT}/node_modules/${package} CACHE PATH "The installed npm package ${package} (${what})")
  set(dir ${${out_dir}})
  string(JSON pinned ERROR_VARIABLE pin_error GET ${REC_ROOT_PACKAGE_JSON} devDependencies ${package})
  if(pin_error OR NOT pinned MATCHES "^[0-9]+\\.[0-9]+\\.[0-9]+$")
    message(FATAL_ERROR "package.json must pin ${package} to one exact version in devDependencies (found '${pinned}')")
  endif()
  if(NOT EXISTS ${dir}/package.json)
    message(FATAL_ERROR "${package} is not installed (${dir}): run npm ci in the repository root; the firmware compiles ${what} from that package")
  endif()
  file(READ ${dir}/package.json package_json)
  string(JSON installed GET ${package_json} version)
  if(NOT installed STREQUAL pinned)
    message(FATAL_ERROR "${package} ${installed} is installed but package.json pins ${pinned}: run npm ci in the repository root")
  endif()
  # Re-run the check when the installed package changes.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${dir}/package.json)
endfunction()

rec_require_npm_package(ed25519-supercop "orlp/ed25519's C sources" REC_ED25519_PACKAGE_DIR)

# Only what keypair-from-seed, sign and verify need: not seed.c (the OS random generator),
# add_scalar.c or key_exchange.c.
set(REC_ED25519_SRC ${REC_ED25519_PACKAGE_DIR}/vendor/ed25519/src)
set(REC_ED25519_SOURCES keypair.c sign.c verify.c sha512.c fe.c ge.c sc.c)
list(TRANSFORM REC_ED25519_SOURCES PREPEND ${REC_ED25519_SRC}/)

# Fixed-base multiplication (README.md, "Compact base-point multiplication"): orlp's ge.c is
# compiled with its ge_scalarmult_base renamed, and ed25519_base.c supplies the one keypair and
# sign call: orlp's (its 30 KiB precomputed table) or, with this option, a compact constant-time
# one over orlp's group operations and a 960-byte table. Ports short of flash turn it on (QEMU).
option(REC_ED25519_COMPACT_BASE "Ed25519: compact fixed-base multiplication instead of orlp's 30 KiB table" OFF)
set_source_files_properties(${REC_ED25519_SRC}/ge.c PROPERTIES COMPILE_DEFINITIONS ge_scalarmult_base=orlp_ge_scalarmult_base)
# The compact one's table (1B .. 8B), computed by the build from the curve's definition.
find_program(REC_CRYPTO_NODE node)
if(NOT REC_CRYPTO_NODE)
  message(FATAL_ERROR "node not found: the Ed25519 base-point table is computed by core/crypto/ed25519-base-multiples-to-c.mjs")
endif()
set(REC_ED25519_GENERATED ${CMAKE_CURRENT_BINARY_DIR}/crypto-generated)
add_custom_command(
  OUTPUT ${REC_ED25519_GENERATED}/ed25519_base_multiples.h
  COMMAND ${CMAKE_COMMAND} -E make_directory ${REC_ED25519_GENERATED}
  COMMAND ${REC_CRYPTO_NODE} ${REC_CRYPTO_DIR}/ed25519-base-multiples-to-c.mjs ${REC_ED25519_GENERATED}/ed25519_base_multiples.h
  DEPENDS ${REC_CRYPTO_DIR}/ed25519-base-multiples-to-c.mjs
  COMMENT "Ed25519: 1B .. 8B for the compact base-point multiplication")

# rec_add_ed25519_library(TARGET COMPACT): a static library of the wrapper and orlp's sources,
# COMPACT (0 or 1) choosing the fixed-base multiplication.
function(rec_add_ed25519_library target compact)
  add_library(${target} STATIC ${REC_CRYPTO_DIR}/ed25519.c ${REC_CRYPTO_DIR}/ed25519_base.c
    ${REC_ED25519_GENERATED}/ed25519_base_multiples.h ${REC_ED25519_SOURCES})
  # rec/err.h from the core's headers; the third-party headers are the wrapper's business only.
  target_include_directories(${target} PUBLIC ${REC_CRYPTO_DIR}/include ${REC_CRYPTO_DIR}/../util/include)
  target_include_directories(${target} PRIVATE ${REC_ED25519_SRC} ${REC_ED25519_GENERATED})
  target_compile_definitions(${target} PRIVATE ED25519_NO_SEED REC_ED25519_COMPACT_BASE=${compact})
  target_compile_options(${target} PRIVATE ${REC_WARNINGS})
  if(CMAKE_CROSSCOMPILING)
    # Small code, and per-function stack figures (.su) and call graph (.ci) for the stack analysis.
    target_compile_options(${target} PRIVATE -Os -ffunction-sections -fdata-sections -fstack-usage -fcallgraph-info=su)
  endif()
endfunction()

rec_add_ed25519_library(rec_crypto $<BOOL:${REC_ED25519_COMPACT_BASE}>)
# The host build's tests also test the other choice: test_ed25519_compact_base and
# ed25519-compact-base-cli link this library, which always has the compact multiplication.
if(NOT CMAKE_CROSSCOMPILING AND REC_BUILD_TESTS)
  rec_add_ed25519_library(rec_ed25519_compact_base 1)
endif()
# orlp's files pass the project's warnings as they are. The one relaxation, for them only: ref10
# shifts negative numbers left (carry << 26), which C11 leaves undefined and UBSan reports; GCC
# defines it as the two's-complement multiplication the code means (GCC manual, "Integers").
if(REC_SANITIZE AND NOT CMAKE_CROSSCOMPILING)
  set_source_files_properties(${REC_ED25519_SOURCES} PROPERTIES COMPILE_OPTIONS -fno-sanitize=shift-base)
endif()

# Cross builds print the component's flash size and the worst-case stack of its entry points
# (from the call graph, by the QEMU port's stack tool). It is not linked into the device images
# yet: see README.md for the figures and what linking it needs.
if(CMAKE_CROSSCOMPILING)
  add_custom_command(TARGET rec_crypto POST_BUILD
    COMMAND ${CMAKE_SIZE} -t $<TARGET_FILE:rec_crypto>
    COMMAND ${REC_CRYPTO_NODE} ${REC_CRYPTO_DIR}/../../ports/qemu/tools/stack-usage.mjs
      --entry rec_ed25519_keypair_from_seed --entry rec_ed25519_sign --entry rec_ed25519_verify
      ${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles/rec_crypto.dir
    VERBATIM)
endif()

# QEMU build: a bare-metal self-test that runs the RFC 8032 vectors on the Cortex-M3
# (selftest/ed25519_selftest_qemu.c; test/qemu-ed25519.test.ts runs it), in the port's memory budget.
if(CMAKE_CROSSCOMPILING AND REC_PORT STREQUAL "qemu")
  set(REC_VECTORS ${REC_CRYPTO_DIR}/../../tests/vectors)
  add_custom_command(
    OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/generated/ed25519_vectors.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/generated
    COMMAND ${REC_CRYPTO_NODE} ${REC_VECTORS}/ed25519-vectors-to-c.mjs ${REC_VECTORS}/rfc8032_ed25519.json
      ${REC_VECTORS}/wycheproof_ed25519_test.json ${CMAKE_CURRENT_BINARY_DIR}/generated/ed25519_vectors.h
    DEPENDS ${REC_VECTORS}/ed25519-vectors-to-c.mjs ${REC_VECTORS}/rfc8032_ed25519.json ${REC_VECTORS}/wycheproof_ed25519_test.json
    COMMENT "Ed25519 test vectors")
  set(REC_SELFTEST_LD ${REC_CRYPTO_DIR}/../../ports/qemu/lm3s6965.ld)
  set(REC_QEMU_PORT_DIR ${REC_CRYPTO_DIR}/../../ports/qemu)
  add_executable(ed25519-selftest-qemu.elf ${REC_CRYPTO_DIR}/selftest/ed25519_selftest_qemu.c
    ${REC_QEMU_PORT_DIR}/semihost.c ${CMAKE_CURRENT_BINARY_DIR}/generated/ed25519_vectors.h)
  # The port's semihosting and the bare-metal runtime shared with its NVM self-test.
  target_include_directories(ed25519-selftest-qemu.elf PRIVATE ${CMAKE_CURRENT_BINARY_DIR}/generated
    ${REC_QEMU_PORT_DIR} ${REC_QEMU_PORT_DIR}/selftest)
  target_link_libraries(ed25519-selftest-qemu.elf PRIVATE rec_crypto)
  target_compile_options(ed25519-selftest-qemu.elf PRIVATE ${REC_WARNINGS} -Os -ffunction-sections -fdata-sections)
  target_link_options(ed25519-selftest-qemu.elf PRIVATE -nostartfiles -Wl,--gc-sections -Wl,--no-warn-rwx-segments
    -T${REC_SELFTEST_LD} -Wl,--defsym=__stack_size=8192)
  set_target_properties(ed25519-selftest-qemu.elf PROPERTIES LINK_DEPENDS ${REC_SELFTEST_LD})
  add_custom_command(TARGET ed25519-selftest-qemu.elf POST_BUILD
    COMMAND ${CMAKE_SIZE} $<TARGET_FILE:ed25519-selftest-qemu.elf> VERBATIM)
endif()

# Cortex-M0+ (RP2040 build): a branch-free __aeabi_lmul (mul64_v6m.c) replaces libgcc's, whose
# v6-M version branches on its operands; the field and scalar arithmetic multiply secrets with it.
if(CMAKE_SYSTEM_PROCESSOR STREQUAL "cortex-m0plus")
  target_sources(rec_crypto PRIVATE ${REC_CRYPTO_DIR}/mul64_v6m.c)
endif()

# Issue 13 groundwork (age encryption), in rec_crypto but not linked into the device images yet:
# HMAC-SHA-256 / HKDF-SHA-256 (our code, over the core's util/sha256.c), X25519 (our RFC 7748 ladder
# over orlp's fe.c, already compiled above) and ChaCha20-Poly1305 from
# libtorsion as shipped in the npm package bcrypto (pinned like ed25519-supercop; README.md says
# why). Only the files ChaCha20, Poly1305 and their AEAD composition need are compiled.
rec_require_npm_package(bcrypto "libtorsion's ChaCha20-Poly1305 C sources" REC_TORSION_PACKAGE_DIR)
set(REC_TORSION_DIR ${REC_TORSION_PACKAGE_DIR}/deps/torsion)
# aead.c (the RFC 8439 composition), stream.c (ChaCha20), mac.c (Poly1305), util.c (memzero,
# memxor), internal.c (the abort behind argument checks the wrapper never fails).
set(REC_TORSION_SOURCES aead.c stream.c mac.c util.c internal.c)
list(TRANSFORM REC_TORSION_SOURCES PREPEND ${REC_TORSION_DIR}/src/)
target_sources(rec_crypto PRIVATE ${REC_CRYPTO_DIR}/hmac_sha256.c ${REC_CRYPTO_DIR}/chacha20poly1305.c ${REC_TORSION_SOURCES}
  ${REC_CRYPTO_DIR}/torsion_memxor.c ${REC_CRYPTO_DIR}/x25519.c)
target_include_directories(rec_crypto PRIVATE ${REC_TORSION_DIR}/include)
# The single relaxation for libtorsion: SipHash and MurmurHash3 (in mac.c and util.c, unused
# here) fall through switch cases on purpose. Two build-level changes for speed (README.md, "Speed
# on the Cortex-M0+"), in every build so that the host tests run them too: torsion_shim.h,
# force-included, makes memcpy an inline byte copy (GCC calls memcpy for each of bio.h's word
# reads on the M0+), and torsion_memxor.c's word-wise torsion_memxor3 replaces util.c's bytewise
# one, which is compiled under another name.
set_source_files_properties(${REC_TORSION_SOURCES} PROPERTIES COMPILE_OPTIONS
  "-Wno-implicit-fallthrough;-include;${REC_CRYPTO_DIR}/torsion_shim.h")
set_property(SOURCE ${REC_TORSION_DIR}/src/util.c APPEND PROPERTY COMPILE_DEFINITIONS torsion_memxor3=torsion_memxor3_bytewise)
# Cortex-M0+ (RP2040): the code that runs for every recorded byte (ChaCha20, Poly1305, the XOR,
# and the core's SHA-256) at -O2 instead of the build's -Os, for 1.7 KiB of flash (README.md).
if(CMAKE_SYSTEM_PROCESSOR STREQUAL "cortex-m0plus")
  set_property(SOURCE ${REC_TORSION_DIR}/src/stream.c ${REC_TORSION_DIR}/src/mac.c ${REC_CRYPTO_DIR}/torsion_memxor.c
    ${REC_CRYPTO_DIR}/../util/sha256.c APPEND PROPERTY COMPILE_OPTIONS -O2)
endif()
# HMAC needs the core's SHA-256 and the core's evidence component signs with this library: the
# host build links the two static libraries both ways (firmware/CMakeLists.txt); the ports compile
# the core into their images and link rec_crypto.
target_include_directories(rec_crypto PUBLIC ${REC_CRYPTO_DIR}/../util/include)

# Cross builds: flash and worst-case stack of the new entry points. SHA-256's call graph comes
# from a copy of util/sha256.c compiled alongside (an object library linked into nothing).
if(CMAKE_CROSSCOMPILING)
  add_library(rec_crypto_sha256_callgraph OBJECT ${REC_CRYPTO_DIR}/../util/sha256.c)
  target_include_directories(rec_crypto_sha256_callgraph PRIVATE ${REC_CRYPTO_DIR}/../util/include)
  target_compile_options(rec_crypto_sha256_callgraph PRIVATE -Os -ffunction-sections -fdata-sections -fstack-usage -fcallgraph-info=su)
  add_dependencies(rec_crypto rec_crypto_sha256_callgraph)
  add_custom_command(TARGET rec_crypto POST_BUILD
    COMMAND ${REC_CRYPTO_NODE} ${REC_CRYPTO_DIR}/../../ports/qemu/tools/stack-usage.mjs
      --entry rec_hmac_sha256 --entry rec_hkdf_sha256
      --entry rec_chacha20poly1305_init --entry rec_chacha20poly1305_encrypt --entry rec_chacha20poly1305_encrypt_final
      --entry rec_chacha20poly1305_decrypt --entry rec_chacha20poly1305_decrypt_final
      --entry rec_x25519 --entry rec_x25519_base
      ${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles
    VERBATIM)
endif()
