# sync/sources.cmake: the sources of the three sync targets, by name.
# Included by the main build (sync/CMakeLists.txt) and by the phone build
# (mobile-bridge/platform). A file joins a target only by being listed here.
set(VELD_SYNC_DIR ${CMAKE_CURRENT_LIST_DIR})

# The wire format and request signatures: both sides of the protocol.
set(VELD_WIRE_SOURCES
  ${VELD_SYNC_DIR}/src/wire.c
  ${VELD_SYNC_DIR}/src/auth.c
)

# The device side: the store's part of sync and the HTTP client (libcurl).
set(VELD_DEVSYNC_SOURCES
  ${VELD_SYNC_DIR}/src/outbox.c
  ${VELD_SYNC_DIR}/src/apply.c
  ${VELD_SYNC_DIR}/src/pending.c
  ${VELD_SYNC_DIR}/src/enroll.c
  ${VELD_SYNC_DIR}/src/officekeys.c
  ${VELD_SYNC_DIR}/src/auditsync.c
  ${VELD_SYNC_DIR}/src/http.c
  ${VELD_SYNC_DIR}/src/client.c
)

# The server: HTTP front (libmicrohttpd), the rules of its store over an
# SQL driver, and the drivers (SQLite, PostgreSQL). Never on a phone.
set(VELD_SERVER_SOURCES
  ${VELD_SYNC_DIR}/src/server.c
  ${VELD_SYNC_DIR}/src/server_store.c
  ${VELD_SYNC_DIR}/src/server_sqlite.c
  ${VELD_SYNC_DIR}/src/server_pg.c
  ${VELD_SYNC_DIR}/src/server_nonces.c
  ${VELD_SYNC_DIR}/src/arena.c
)
