# Run by `cmake --install` (see CMakeLists.txt): installs the systemd unit with the installed
# binary's and configuration's paths written into it, and the example configuration unless
# one is there already (an operator's edited file is never replaced). Paths are resolved
# here, at install time, so `cmake --install --prefix DIR` and DESTDIR both work.

# A directory GNUInstallDirs-style: absolute as given, else under the install prefix.
function(plexi_full_path out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

plexi_full_path(bindir "${PLEXI_BINDIR}")
plexi_full_path(confdir "${PLEXI_SYSCONFDIR}/plexiproxy")
plexi_full_path(unitdir "${PLEXI_SYSTEMD_UNITDIR}")

# The unit as the service runs it: its paths without DESTDIR, its files under DESTDIR.
file(READ "${PLEXI_SOURCE_DIR}/deploy/plexiproxy.service" unit)
string(REPLACE "/usr/local/bin/plexiproxy" "${bindir}/plexiproxy" unit "${unit}")
string(REPLACE "/etc/plexiproxy/" "${confdir}/" unit "${unit}")
set(staged "${PLEXI_BINARY_DIR}/plexiproxy.service")
file(WRITE "${staged}" "${unit}")
file(INSTALL "${staged}" DESTINATION "$ENV{DESTDIR}${unitdir}"
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

set(config "$ENV{DESTDIR}${confdir}/plexiproxy.yaml")
if(EXISTS "${config}")
  message(STATUS "Kept: ${config}")
else()
  file(INSTALL "${PLEXI_SOURCE_DIR}/deploy/examples/plexiproxy.yaml"
    DESTINATION "$ENV{DESTDIR}${confdir}"
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endif()
