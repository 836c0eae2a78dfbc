# Evaluates nix/module.nix against stubs.nix, for tests/system/test_nix_files.py: the option values are
# the defaults with `overridesJSON` on top, and the config comes back with mkIf / mkDefault
# applied. The default package is a stand-in whose torch has CUDA when packageCuda is "1".
{
  overridesJSON ? "{}",
  packageCuda ? "0",
}:
let
  stubs = import ./stubs.nix;
  inherit (stubs) lib isType;
  pkgs = {
    callPackage = _path: _args: stubs.fakeDrv "whisper-api" // { cudaSupport = packageCuda == "1"; };
  };
  overrides = builtins.fromJSON overridesJSON;
  module = import ../module.nix { inherit lib pkgs config; };
  options = module.options.services.whisper-api;
  cfg = builtins.mapAttrs (name: opt: overrides.${name} or opt.default) options;
  config.services.whisper-api = cfg;

  absent = {
    _type = "absent";
  };
  resolve =
    v:
    if isType "if" v then
      (if v.condition then resolve v.content else absent)
    else if isType "override" v then
      resolve v.content
    else if builtins.isList v then
      map resolve v
    else if builtins.isAttrs v && !(v ? outPath) then
      let
        resolved = builtins.mapAttrs (_: resolve) v;
        gone = builtins.filter (name: isType "absent" resolved.${name}) (builtins.attrNames resolved);
      in
      builtins.removeAttrs resolved gone
    else
      v;
  resolvedConfig = resolve module.config;
in
{
  optionNames = builtins.attrNames options;
  badTypes = builtins.filter (name: !(options.${name}.type.check cfg.${name})) (
    builtins.attrNames options
  );
  modelNames = options.cpuFallbackModel.type.values;
  maxModelNames = options.maxModel.type.elemType.values;
  config = if isType "absent" resolvedConfig then { } else resolvedConfig;
}
