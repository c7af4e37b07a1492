# CxrLibrary.cmake: how the library folders become the installed libcxr.
#
# Each library folder (common/, formats/, runtime/, train/, ...) builds its own static target
# for the in-tree tools and tests, then calls
#     cxr_export_library(TARGET [HEADERS h ...])
# which compiles it position-independent, records it for libcxr and installs its public
# headers (every cxr_*.h of the folder, plus HEADERS: internal headers that a public one
# includes) into <prefix>/include/cxr. After all folders, the top level calls
# cxr_install_package(), which
#   - links one shared libcxr.so.<major.minor> and one static libcxr.a from the objects of
#     every recorded target (one library to link: the layers depend on each other in a chain,
#     and their order and internal split are not the user's concern);
#   - exports only the cxr_* symbols from the shared library (cmake/libcxr.map);
#   - installs cxrConfig.cmake + cxrConfigVersion.cmake (targets cxr::cxr, cxr::cxr_static)
#     and cxr.pc, whose private link flags are the recorded targets' external dependencies;
#   - installs the Python package python/cxr into <prefix>/lib/python3/dist-packages.
# A new library folder needs only the cxr_export_library call.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CXR_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/cxr)
set(CXR_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/cxr)

function(cxr_export_library target)
  cmake_parse_arguments(arg "" "" "HEADERS" ${ARGN})
  set_property(GLOBAL APPEND PROPERTY CXR_EXPORTED_LIBRARIES ${target})
  # -fPIC for the shared library; without semantic interposition the static tools keep the
  # same inlining as a non-PIC build.
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C>:-fno-semantic-interposition>)
  file(GLOB public CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cxr_*.h)
  foreach(h ${arg_HEADERS})
    list(APPEND public ${CMAKE_CURRENT_SOURCE_DIR}/${h})
  endforeach()
  install(FILES ${public} DESTINATION ${CXR_INSTALL_INCLUDEDIR} COMPONENT devel)
endfunction()

# The link items behind `items`, flattened for a consumer outside this build: imported and
# interface targets are replaced by what they link (recursively), $<LINK_ONLY:x> by x, and the
# recorded cxr targets are dropped (their objects are inside libcxr).
function(cxr_flatten_link_items out)
  get_property(ours GLOBAL PROPERTY CXR_EXPORTED_LIBRARIES)
  set(result "")
  set(todo ${ARGN})
  set(seen "")
  while(todo)
    list(POP_FRONT todo item)
    string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" item "${item}")
    if(item IN_LIST seen OR item IN_LIST ours OR item STREQUAL "")
      continue()
    endif()
    list(APPEND seen "${item}")
    if(TARGET ${item})
      get_target_property(type ${item} TYPE)
      get_target_property(imported ${item} IMPORTED)
      if(imported AND NOT type STREQUAL "INTERFACE_LIBRARY")
        get_target_property(loc ${item} IMPORTED_LOCATION)
        if(NOT loc)
          get_target_property(loc ${item} IMPORTED_LOCATION_RELEASE)
        endif()
        if(loc)
          list(APPEND result ${loc})
        endif()
      endif()
      get_target_property(opts ${item} INTERFACE_LINK_OPTIONS)
      if(opts)
        list(APPEND result ${opts})
      endif()
      get_target_property(deps ${item} INTERFACE_LINK_LIBRARIES)
      if(deps)
        list(PREPEND todo ${deps})
      endif()
      # OpenMP::OpenMP_C carries -fopenmp as a compile option only; the link needs it too.
      get_target_property(copts ${item} INTERFACE_COMPILE_OPTIONS)
      if(copts MATCHES "-fopenmp")
        list(APPEND result -fopenmp)
      endif()
    elseif(item MATCHES "^\\$<")
      message(FATAL_ERROR "cxr_flatten_link_items: cannot flatten ${item}")
    else()
      list(APPEND result ${item})
    endif()
  endwhile()
  list(REMOVE_DUPLICATES result)
  set(${out} ${result} PARENT_SCOPE)
endfunction()

# "-lfoo" / "/path/libfoo.so" / "-flag" items as one pkg-config Libs line.
function(cxr_pkgconfig_libs out)
  set(flags "")
  foreach(item ${ARGN})
    if(item MATCHES "^/.*/lib([^/]*)\\.(so|a)(\\.[0-9.]*)?$")
      get_filename_component(dir ${item} DIRECTORY)
      if(NOT dir IN_LIST CMAKE_C_IMPLICIT_LINK_DIRECTORIES)
        list(APPEND flags "-L${dir}")
      endif()
      list(APPEND flags "-l${CMAKE_MATCH_1}")
    elseif(item MATCHES "^-")
      list(APPEND flags ${item})
    else()
      list(APPEND flags "-l${item}")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES flags)
  string(REPLACE ";" " " flags "${flags}")
  set(${out} "${flags}" PARENT_SCOPE)
endfunction()

function(cxr_install_package)
  get_property(libs GLOBAL PROPERTY CXR_EXPORTED_LIBRARIES)
  set(objects "")
  set(deps "")
  foreach(t ${libs})
    list(APPEND objects $<TARGET_OBJECTS:${t}>)
    get_target_property(tdeps ${t} LINK_LIBRARIES)
    if(tdeps)
      list(APPEND deps ${tdeps})
    endif()
  endforeach()
  cxr_flatten_link_items(flat ${deps})

  add_library(cxr SHARED ${objects})
  add_library(cxr_static STATIC ${objects})
  set(map ${PROJECT_SOURCE_DIR}/cmake/libcxr.map)
  set_target_properties(cxr PROPERTIES
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
    LINK_DEPENDS ${map})
  target_link_options(cxr PRIVATE -Wl,--version-script=${map} -Wl,--no-undefined)
  set_target_properties(cxr_static PROPERTIES OUTPUT_NAME cxr)
  target_link_libraries(cxr PRIVATE ${flat})
  target_link_libraries(cxr_static INTERFACE ${flat})
  foreach(t cxr cxr_static)
    target_include_directories(${t} INTERFACE $<INSTALL_INTERFACE:${CXR_INSTALL_INCLUDEDIR}>
                                               $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  endforeach()

  install(TARGETS cxr EXPORT cxrTargets
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT devel)
  install(TARGETS cxr_static EXPORT cxrTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT devel)
  install(EXPORT cxrTargets NAMESPACE cxr:: DESTINATION ${CXR_INSTALL_CMAKEDIR} COMPONENT devel)

  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/cxrConfig.cmake.in
    ${CMAKE_BINARY_DIR}/cxrConfig.cmake INSTALL_DESTINATION ${CXR_INSTALL_CMAKEDIR}
    PATH_VARS CMAKE_INSTALL_INCLUDEDIR CXR_INSTALL_PLUGINDIR)
  # 0.x: a minor version may break the API, so only the same major.minor is compatible.
  write_basic_package_version_file(${CMAKE_BINARY_DIR}/cxrConfigVersion.cmake
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
  install(FILES ${CMAKE_BINARY_DIR}/cxrConfig.cmake ${CMAKE_BINARY_DIR}/cxrConfigVersion.cmake
          DESTINATION ${CXR_INSTALL_CMAKEDIR} COMPONENT devel)

  cxr_pkgconfig_libs(CXR_PC_LIBS_PRIVATE ${flat})
  file(RELATIVE_PATH CXR_PC_PREFIX_FROM_PCDIR /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
  string(REGEX REPLACE "/$" "" CXR_PC_PREFIX_FROM_PCDIR "${CXR_PC_PREFIX_FROM_PCDIR}")
  if(IS_ABSOLUTE ${CXR_INSTALL_PLUGINDIR})
    set(CXR_PC_PLUGIN_DIR ${CXR_INSTALL_PLUGINDIR})
  else()
    set(CXR_PC_PLUGIN_DIR "\${prefix}/${CXR_INSTALL_PLUGINDIR}")
  endif()
  configure_file(${PROJECT_SOURCE_DIR}/cmake/cxr.pc.in ${CMAKE_BINARY_DIR}/cxr.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/cxr.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
          COMPONENT devel)

  # The Python package (ctypes over libcxr.so; it finds the library from this folder).
  set(CXR_INSTALL_PYTHONDIR lib/python3/dist-packages CACHE PATH
      "where `cmake --install` puts the Python package cxr (PYTHONPATH=<prefix>/<this>)")
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/cxr DESTINATION ${CXR_INSTALL_PYTHONDIR}
          COMPONENT python PATTERN __pycache__ EXCLUDE)
endfunction()
