# core/sources.cmake: the sources of veld_core, by name. Included by the main
# build (core/CMakeLists.txt) and by the phone build (mobile-bridge/platform),
# so both compile the same files. A file joins the library only by being
# listed here.
set(VELD_CORE_DIR ${CMAKE_CURRENT_LIST_DIR})
set(VELD_CORE_SOURCES
  ${VELD_CORE_DIR}/src/error.c
  ${VELD_CORE_DIR}/src/crypto.c
  ${VELD_CORE_DIR}/src/hlc.c
  ${VELD_CORE_DIR}/src/op.c
  ${VELD_CORE_DIR}/src/merge.c
  ${VELD_CORE_DIR}/src/merge_sqlite.c
  ${VELD_CORE_DIR}/src/keys.c
  ${VELD_CORE_DIR}/src/store.c
  ${VELD_CORE_DIR}/src/schema.c
  ${VELD_CORE_DIR}/src/kinds.c
  ${VELD_CORE_DIR}/src/kinddoc.c
  ${CMAKE_CURRENT_BINARY_DIR}/default_schema.c
  ${VELD_CORE_DIR}/src/access.c
  ${VELD_CORE_DIR}/src/records.c
  ${VELD_CORE_DIR}/src/recbuild.c
  ${VELD_CORE_DIR}/src/listing.c
  ${VELD_CORE_DIR}/src/progress.c
  ${VELD_CORE_DIR}/src/export.c
  ${VELD_CORE_DIR}/src/due.c
  ${VELD_CORE_DIR}/src/duekept.c
  ${VELD_CORE_DIR}/src/report.c
  ${VELD_CORE_DIR}/src/audit.c
  ${VELD_CORE_DIR}/src/retention.c
  ${VELD_CORE_DIR}/src/move.c
  ${VELD_CORE_DIR}/src/verify.c
  ${VELD_CORE_DIR}/src/policy.c
  ${VELD_CORE_DIR}/src/syncstate.c
  ${VELD_CORE_DIR}/src/trust.c
)

# The built-in record schema, compiled in (kinds.h, veld__default_schema):
# written when CMake configures, and again whenever the JSON changes.
set(EMBED_IN ${VELD_CORE_DIR}/schema/beschermd-thuis.json)
set(EMBED_OUT ${CMAKE_CURRENT_BINARY_DIR}/default_schema.c)
set(EMBED_NAME veld__default_schema)
include(${VELD_CORE_DIR}/embed.cmake)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${EMBED_IN} ${VELD_CORE_DIR}/embed.cmake)
