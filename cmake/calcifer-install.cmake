# Runs at install time (`make install`, `cmake --install`), once the libraries are in place,
# because only then is the prefix known: it writes the pkg-config files and the CMake package's
# rpath setting for that prefix, and refreshes the dynamic loader's cache when it should.
# Set by CMakeLists.txt: CF_INSTALL_LIBDIR, CF_LIBRARY_ARCHITECTURE, CF_PC_TEMPLATES.
#
# A program linked with libcalcifer.so must find it when it starts (docs/install.md):
# - in a directory the loader always searches (/usr/lib, /usr/lib64, /usr/lib/<arch>): nothing
#   to do;
# - in one it finds through its cache (listed in /etc/ld.so.conf, such as /usr/local/lib):
#   ldconfig runs (it needs root, and is skipped with DESTDIR); if it cannot run, programs get
#   an rpath instead;
# - anywhere else (a home directory, /opt/..., a temporary prefix): programs get an rpath,
#   `-Wl,-rpath,${libdir}` in calcifer.pc and a link option on calcifer::calcifer_shared.

cmake_policy(PUSH)
cmake_policy(VERSION 3.16) # if(IN_LIST) in cmake_install.cmake, which sets no policies

set(_cf_destdir "$ENV{DESTDIR}")
set(_cf_libdir "${CMAKE_INSTALL_PREFIX}/${CF_INSTALL_LIBDIR}")
get_filename_component(_cf_libdir_real "${_cf_libdir}" REALPATH)

# The loader's built-in directories, as real paths (/lib is /usr/lib on merged-/usr systems).
set(_cf_trusted "")
set(_cf_candidates /lib /usr/lib /lib64 /usr/lib64)
if(CF_LIBRARY_ARCHITECTURE)
  list(APPEND _cf_candidates /lib/${CF_LIBRARY_ARCHITECTURE} /usr/lib/${CF_LIBRARY_ARCHITECTURE})
endif()
foreach(_cf_dir ${_cf_candidates})
  get_filename_component(_cf_dir "${_cf_dir}" REALPATH)
  list(APPEND _cf_trusted "${_cf_dir}")
endforeach()

# The directories of the loader's cache: `ldconfig -N -X -v` lists them without changing anything.
function(_cf_loader_dirs ldconfig out)
  execute_process(COMMAND "${ldconfig}" -N -X -v OUTPUT_VARIABLE text ERROR_QUIET
                  RESULT_VARIABLE rc)
  set(dirs "")
  string(REPLACE "\n" ";" lines "${text}")
  foreach(line ${lines})
    if(line MATCHES "^(/[^:]*):")
      get_filename_component(dir "${CMAKE_MATCH_1}" REALPATH)
      list(APPEND dirs "${dir}")
    endif()
  endforeach()
  set(${out} "${dirs}" PARENT_SCOPE)
endfunction()

set(_cf_rpath ON)
if(NOT EXISTS "${_cf_destdir}${_cf_libdir}/libcalcifer.so")
  set(_cf_rpath OFF) # the static library only: nothing to find at run time
elseif(_cf_libdir_real IN_LIST _cf_trusted)
  set(_cf_rpath OFF)
elseif(_cf_destdir STREQUAL "")
  find_program(_cf_ldconfig ldconfig PATHS /sbin /usr/sbin)
  if(_cf_ldconfig)
    _cf_loader_dirs("${_cf_ldconfig}" _cf_cached)
    if(_cf_libdir_real IN_LIST _cf_cached)
      execute_process(COMMAND "${_cf_ldconfig}" RESULT_VARIABLE _cf_rc OUTPUT_QUIET ERROR_QUIET)
      if(_cf_rc EQUAL 0)
        set(_cf_rpath OFF)
        message(STATUS "calcifer: ran ldconfig: the dynamic loader finds ${_cf_libdir}/libcalcifer.so")
      else()
        message(STATUS "calcifer: could not run ldconfig (it needs root): programs get an rpath")
      endif()
    endif()
  endif()
endif()
if(_cf_rpath)
  message(STATUS "calcifer: ${_cf_libdir} is not searched by the dynamic loader: programs linked "
                 "through calcifer.pc or calcifer::calcifer_shared get an rpath to it")
  set(_cf_pc_rpath " -Wl,-rpath,\${libdir}")
else()
  set(_cf_pc_rpath "")
endif()

foreach(_cf_pc calcifer calcifer-static)
  file(READ "${CF_PC_TEMPLATES}/${_cf_pc}.pc.in" _cf_text)
  string(REPLACE "@CF_PC_RPATH@" "${_cf_pc_rpath}" _cf_text "${_cf_text}")
  set(_cf_file "${_cf_destdir}${_cf_libdir}/pkgconfig/${_cf_pc}.pc")
  message(STATUS "Installing: ${_cf_file}")
  file(WRITE "${_cf_file}" "${_cf_text}")
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${_cf_file}")
endforeach()
set(_cf_file "${_cf_destdir}${_cf_libdir}/cmake/calcifer/calcifer-runtime.cmake")
message(STATUS "Installing: ${_cf_file}")
file(WRITE "${_cf_file}"
     "# Written by `make install`: programs linked with calcifer::calcifer_shared need an rpath.\n"
     "set(CALCIFER_LINK_RPATH ${_cf_rpath})\n")
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${_cf_file}")

cmake_policy(POP)
