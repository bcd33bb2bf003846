# tests/unit/tests.cmake: the unit tests, by name (NAME.c with helpers.c, on
# the store, the wire format and device sync; none needs the server).
# Included by tests/unit/CMakeLists.txt and by the phone build's tests
# (mobile-bridge/platform, VELD_PLATFORM_TESTS), which runs them on AArch64.
set(VELD_UNIT_TESTS
  test_store
  test_records
  test_progress
  test_merge
  test_audit
  test_privacy
  test_tamper
  test_sync_client
  test_wire
  test_auditsync
  test_apply
  test_office
  test_move
  test_schema
  test_due
)
