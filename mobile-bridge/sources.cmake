# mobile-bridge/sources.cmake: the bridge's sources, by name. Included by the
# main build and by the phone build (mobile-bridge/platform).
set(VELD_BRIDGE_DIR ${CMAKE_CURRENT_LIST_DIR})
set(VELD_BRIDGE_SOURCES ${VELD_BRIDGE_DIR}/src/bridge.c)
set(VELD_JNI_SOURCES ${VELD_BRIDGE_DIR}/jni/veld_jni.c)
