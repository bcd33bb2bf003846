# The Debian packages, made by CPack from the install rules (components):
#
#   veld         cli  the command and the sync server, its manual, bash
#                     completion and systemd unit
#   libveld0     lib  libveld.so.0, what a program linked with veld runs on
#   libveld-dev  dev  headers, libveld.a, libveld.so, veld.pc, the CMake
#                     package, the Java jar and JNI glue
#
# Build them from a tree configured for /usr (tests/package/package.sh does):
#   cmake -S . -B build-deb -DCMAKE_INSTALL_PREFIX=/usr -DVELD_BUILD_TESTS=OFF
#   cmake --build build-deb && (cd build-deb && cpack -G DEB)
set(VELD_DEB_DIR ${CMAKE_CURRENT_LIST_DIR})
set(VELD_DEB_MAINTAINER "veld maintainers <maintainers@veld.example>"
    CACHE STRING "The Maintainer field of the Debian packages")
set(VELD_DEB_RELEASE 1)
string(TIMESTAMP VELD_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)

# Each package's /usr/share/doc/<package>: copyright and changelog.
set(VELD_DEB_PACKAGES cli:veld lib:libveld0 dev:libveld-dev)
configure_file(${VELD_DEB_DIR}/changelog.in ${CMAKE_BINARY_DIR}/debian/changelog @ONLY)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz
  COMMAND gzip -9nc ${CMAKE_BINARY_DIR}/debian/changelog > ${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz
  DEPENDS ${CMAKE_BINARY_DIR}/debian/changelog)
add_custom_target(veld_deb_changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz)
foreach(p ${VELD_DEB_PACKAGES})
  string(REPLACE ":" ";" p ${p})
  list(GET p 0 component)
  list(GET p 1 package)
  install(FILES ${VELD_DEB_DIR}/copyright ${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz
          DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${package} COMPONENT ${component}
          EXCLUDE_FROM_ALL)
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME veld)
set(CPACK_PACKAGE_VENDOR "the veld authors")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${VELD_DEB_MAINTAINER})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL cli lib dev)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${VELD_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${VELD_DEB_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_CLI_PACKAGE_NAME veld)
set(CPACK_DEBIAN_CLI_PACKAGE_SECTION utils)
set(CPACK_COMPONENT_CLI_DESCRIPTION
  "encrypted offline records for support workers, and their sync server\n"
  "veld keeps a support worker's visits, notes, self-reliance scores and\n"
  "early-warning signals in an encrypted store, and syncs them through a\n"
  "server that cannot read them to the office, which holds its own keys.\n"
  "This package has the veld command (worker, office and operator) and the\n"
  "sync server as a systemd service.")
configure_file(${VELD_DEB_DIR}/conffiles.in ${CMAKE_BINARY_DIR}/debian/cli/conffiles @ONLY)
foreach(script postinst prerm postrm)
  configure_file(${VELD_DEB_DIR}/${script} ${CMAKE_BINARY_DIR}/debian/cli/${script}
                 COPYONLY FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
                 GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_CLI_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/debian/cli/conffiles
  ${CMAKE_BINARY_DIR}/debian/cli/postinst ${CMAKE_BINARY_DIR}/debian/cli/prerm
  ${CMAKE_BINARY_DIR}/debian/cli/postrm)

set(CPACK_DEBIAN_LIB_PACKAGE_NAME libveld0)
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
# ldconfig runs through its trigger (CPack also adds the older ldconfig
# call in postinst and postrm: lintian warns, harmlessly).
set(CPACK_DEBIAN_LIB_PACKAGE_CONTROL_EXTRA ${VELD_DEB_DIR}/triggers)
set(CPACK_COMPONENT_LIB_DESCRIPTION
  "encrypted offline-first store and sync for field apps (library)\n"
  "libveld is the core of veld for apps: an encrypted store of a support\n"
  "worker's records, the device side of sync with a server that cannot\n"
  "read them, and a stable C bridge for Android (JNI) and iOS (Swift).\n"
  "This package has the shared library.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libveld-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DEPENDS lib)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "libsqlite3-dev, libsodium-dev, libmsgpack-dev, libjansson-dev, libcurl4-openssl-dev | libcurl-dev")
set(CPACK_COMPONENT_DEV_DESCRIPTION
  "encrypted offline-first store and sync for field apps (development files)\n"
  "libveld is the core of veld for apps: an encrypted store of a support\n"
  "worker's records, the device side of sync with a server that cannot\n"
  "read them, and a stable C bridge for Android (JNI) and iOS (Swift).\n"
  "This package has the headers, the static library, the pkg-config file,\n"
  "the CMake package, the Swift module map, the Java classes and the JNI\n"
  "glue.")

include(CPack)
