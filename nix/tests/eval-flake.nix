# Evaluates flake.nix's outputs on stubs.nix's nixpkgs, for tests/system/test_nix_files.py, and
# reports what each output is (checks are only listed: they need the real NixOS modules).
let
  stubs = import ./stubs.nix;
  systems = [
    "x86_64-linux"
    "aarch64-linux"
  ];
  nixpkgs = {
    inherit (stubs) lib;
    legacyPackages = stubs.lib.genAttrs systems (system: stubs.mkPkgs system false);
    outPath = ./fake-nixpkgs;
  };
  flake = import ../../flake.nix;
  outputs = flake.outputs {
    self = outputs;
    inherit nixpkgs;
  };
  describeSource = src: {
    root = toString src.root;
    files = map (
      part: if builtins.isAttrs part then "filtered:${toString part.path}" else toString part
    ) src.fileset;
  };
  describePackage = drv: {
    inherit (drv)
      pname
      version
      pyproject
      doCheck
      pythonImportsCheck
      cudaSupport
      ;
    inherit (drv.meta) mainProgram;
    buildSystem = map (p: p.pname) drv.build-system;
    dependencies = map (p: p.pname) drv.dependencies;
    src = describeSource drv.src;
  };
in
{
  inherit (flake) description;
  nixpkgsUrl = flake.inputs.nixpkgs.url;
  systems = builtins.attrNames outputs.packages;
  packages = builtins.mapAttrs (_: builtins.mapAttrs (_: describePackage)) outputs.packages;
  apps = builtins.mapAttrs (_: builtins.mapAttrs (_: app: { inherit (app) type program; })) outputs.apps;
  devShells = builtins.mapAttrs (
    _:
    builtins.mapAttrs (
      _: shell: {
        packages = map (p: p.pname) shell.packages;
        python = map (p: p.pname) (builtins.head shell.packages).packages;
        inherit (shell) shellHook;
      }
    )
  ) outputs.devShells;
  nixosModules = builtins.mapAttrs (_: builtins.isFunction) outputs.nixosModules;
  overlay = (outputs.overlays.default (stubs.mkPkgs "x86_64-linux" false) { }).whisper-api.pname;
  checks = builtins.mapAttrs (_: builtins.attrNames) outputs.checks;
}
