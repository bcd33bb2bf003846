# CMake toolchain file: 64-bit ARM Linux with glibc, built by Debian's cross
# compiler (gcc-aarch64-linux-gnu). The target's libraries come from one of
#
#   - a sysroot: a directory holding Debian's arm64 packages unpacked
#     (.ci/install-cross-deps makes one), given as -DVELD_AARCH64_SYSROOT=DIR
#     or in the environment variable of the same name; or
#   - Debian multiarch: the :arm64 -dev packages installed on this machine
#     (dpkg --add-architecture arm64), in /usr/lib/aarch64-linux-gnu and
#     /usr/include/aarch64-linux-gnu beside the machine's own.
#
# Either way nothing of the build machine's own architecture is found: the
# compiler, the headers and the libraries are all the target's. With
# qemu-user installed, CMAKE_CROSSCOMPILING_EMULATOR lets ctest run the
# target's test programs here (docs/mobile.md, "arm64 under qemu").
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(VELD_AARCH64_PREFIX aarch64-linux-gnu- CACHE STRING "Prefix of the cross tools")
set(CMAKE_C_COMPILER ${VELD_AARCH64_PREFIX}gcc)

if(NOT DEFINED VELD_AARCH64_SYSROOT AND DEFINED ENV{VELD_AARCH64_SYSROOT})
  set(VELD_AARCH64_SYSROOT $ENV{VELD_AARCH64_SYSROOT})
endif()
set(VELD_AARCH64_SYSROOT "${VELD_AARCH64_SYSROOT}" CACHE PATH
    "Unpacked arm64 Debian packages (empty: the multiarch packages of this machine)")
# try_compile projects get the toolchain file again, without the cache.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES VELD_AARCH64_SYSROOT VELD_AARCH64_PREFIX)

if(VELD_AARCH64_SYSROOT)
  set(CMAKE_SYSROOT ${VELD_AARCH64_SYSROOT})
  set(qemu_root ${VELD_AARCH64_SYSROOT})
else()
  # Multiarch: the target's files live beside the host's under /usr; the
  # library architecture above makes find_library look in
  # /usr/lib/aarch64-linux-gnu and find_path in /usr/include/aarch64-linux-gnu
  # (then /usr/include, which holds only architecture-independent headers).
  set(CMAKE_FIND_ROOT_PATH /)
  set(qemu_root /)
endif()
# Programs (cmake, sh) are the build machine's; headers, libraries and
# packages only the target's.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

find_program(VELD_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(VELD_QEMU_AARCH64)
  # -L: where the target's dynamic loader and shared libraries are.
  set(CMAKE_CROSSCOMPILING_EMULATOR ${VELD_QEMU_AARCH64} -L ${qemu_root})
endif()
