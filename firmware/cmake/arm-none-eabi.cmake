# CMake toolchain file for bare-metal Arm Cortex-M builds with the Debian arm-none-eabi-gcc and
# newlib (packages gcc-arm-none-eabi, libnewlib-arm-none-eabi).
#
#   cmake -S firmware -B firmware/build-qemu -DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake -DREC_PORT=qemu
#
# CPU flags are set by the port (ports/qemu: -mcpu=cortex-m3 -mthumb), so one toolchain file
# serves every Cortex-M port.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_CROSSCOMPILING ON)

set(REC_ARM_PREFIX arm-none-eabi- CACHE STRING "Prefix of the bare-metal Arm toolchain")
find_program(REC_ARM_GCC ${REC_ARM_PREFIX}gcc)
if(NOT REC_ARM_GCC)
  message(FATAL_ERROR "${REC_ARM_PREFIX}gcc not found: install the Debian packages gcc-arm-none-eabi libnewlib-arm-none-eabi")
endif()
get_filename_component(REC_ARM_BIN ${REC_ARM_GCC} DIRECTORY)

set(CMAKE_C_COMPILER ${REC_ARM_BIN}/${REC_ARM_PREFIX}gcc)
set(CMAKE_ASM_COMPILER ${REC_ARM_BIN}/${REC_ARM_PREFIX}gcc)
set(CMAKE_AR ${REC_ARM_BIN}/${REC_ARM_PREFIX}ar CACHE FILEPATH "" FORCE)
set(CMAKE_RANLIB ${REC_ARM_BIN}/${REC_ARM_PREFIX}ranlib CACHE FILEPATH "" FORCE)
set(CMAKE_OBJCOPY ${REC_ARM_BIN}/${REC_ARM_PREFIX}objcopy CACHE FILEPATH "" FORCE)
set(CMAKE_SIZE ${REC_ARM_BIN}/${REC_ARM_PREFIX}size CACHE FILEPATH "" FORCE)
set(CMAKE_NM ${REC_ARM_BIN}/${REC_ARM_PREFIX}nm CACHE FILEPATH "" FORCE)

# No host executables can run: test the compiler by building a static library.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)

# The CPU: Cortex-M3 by default (the QEMU port); other ports pass their own.
set(REC_ARM_CPU_FLAGS "-mcpu=cortex-m3 -mthumb" CACHE STRING "CPU flags for the bare-metal Arm build")
set(CMAKE_C_FLAGS_INIT "${REC_ARM_CPU_FLAGS}")
set(CMAKE_ASM_FLAGS_INIT "${REC_ARM_CPU_FLAGS}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${REC_ARM_CPU_FLAGS}")
