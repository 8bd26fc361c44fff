# The portable core by component (docs/firmware.md), for the three CMake projects that compile it:
# firmware/ (host and QEMU), ports/rp2040 and fuzz/. Set REC_FW to the firmware/ directory first.
#
# Sets REC_CORE_SOURCES, REC_CORE_INCLUDE_DIRS (each component's include/, with its rec/*.h,
# plus core/include for the port boundary and the generated protocol header) and
# REC_HOST_BD_SOURCES: the block devices over a file and in RAM (with power-cut injection),
# which need an operating system and malloc, for host builds only. The evidence component signs
# with core/crypto: every build that compiles the core also links the rec_crypto library
# (core/crypto/crypto.cmake, included first).
set(REC_CORE_COMPONENTS util storage link recording evidence app)
set(REC_CORE_SOURCES)
set(REC_CORE_INCLUDE_DIRS ${REC_FW}/core/include)
foreach(component ${REC_CORE_COMPONENTS})
  file(GLOB component_sources CONFIGURE_DEPENDS ${REC_FW}/core/${component}/*.c)
  list(APPEND REC_CORE_SOURCES ${component_sources})
  list(APPEND REC_CORE_INCLUDE_DIRS ${REC_FW}/core/${component}/include)
endforeach()
# Block-device back ends side by side in storage/bd: SD over SPI goes into every build.
list(APPEND REC_CORE_SOURCES ${REC_FW}/core/storage/bd/sd_spi.c)
# The codec generated from protocol/src/schema.ts (npm run gen): pack/unpack of every layout.
list(APPEND REC_CORE_SOURCES ${REC_FW}/../protocol/generated/rec_codec.c)
list(APPEND REC_CORE_INCLUDE_DIRS ${REC_FW}/core/storage/bd/include ${REC_FW}/../protocol/generated)
set(REC_HOST_BD_SOURCES ${REC_FW}/core/storage/bd/bd_file.c ${REC_FW}/core/storage/bd/bd_ram.c)
