# core/embed.cmake: turns a file into a C array, so data veld needs at run
# time (the built-in record schema) is part of the library, not a file to
# install. Used from CMake:
#   set(EMBED_IN file) set(EMBED_OUT file.c) set(EMBED_NAME symbol)
#   include(embed.cmake)
# The array ends with a NUL byte, so text can be used as a C string.
file(READ "${EMBED_IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n\t"
       bytes "${bytes}")
get_filename_component(src "${EMBED_IN}" NAME)
file(WRITE "${EMBED_OUT}.tmp"
  "/* Generated from ${src} by core/embed.cmake; do not edit. */\n"
  "extern const char ${EMBED_NAME}[];\n"
  "const char ${EMBED_NAME}[] = {\n\t${bytes}0x00};\n")
configure_file("${EMBED_OUT}.tmp" "${EMBED_OUT}" COPYONLY) # touched only when it changes
