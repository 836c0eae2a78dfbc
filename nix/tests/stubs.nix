# Stand-ins for the parts of nixpkgs that flake.nix and nix/*.nix use, for
# tests/system/test_nix_files.py: nixpkgs cannot be fetched where those tests run. Each `lib` function
# here has nixpkgs' meaning, for the arguments these files pass; a function these files start
# using has to be added here, or evaluation fails loudly. Nothing here is used by the flake.
rec {
  isType = t: v: builtins.isAttrs v && (v._type or null) == t;

  lib = rec {
    # The module system, as far as a module's declarations and its mkIf / mkDefault go.
    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption = name: mkOption {
      type = types.bool;
      default = false;
      description = "Whether to enable ${name}.";
    };
    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };
    mkIf = condition: content: {
      _type = "if";
      inherit condition content;
    };
    mkDefault = content: {
      _type = "override";
      priority = 1000;
      inherit content;
    };
    types = rec {
      bool = {
        name = "bool";
        check = builtins.isBool;
      };
      str = {
        name = "str";
        check = builtins.isString;
      };
      port = {
        name = "port";
        check = v: builtins.isInt v && v >= 0 && v <= 65535;
      };
      package = {
        name = "package";
        check = v: builtins.isAttrs v && v ? outPath;
      };
      path = {
        name = "path";
        check = v: builtins.isPath v || (builtins.isString v && hasPrefix "/" v);
      };
      ints = {
        unsigned = {
          name = "unsigned";
          check = v: builtins.isInt v && v >= 0;
        };
        positive = {
          name = "positive";
          check = v: builtins.isInt v && v > 0;
        };
      };
      enum = values: {
        name = "enum";
        inherit values;
        check = v: builtins.elem v values;
      };
      nullOr = elemType: {
        name = "nullOr";
        inherit elemType;
        check = v: v == null || elemType.check v;
      };
      listOf = elemType: {
        name = "listOf";
        check = v: builtins.isList v && builtins.all elemType.check v;
      };
      attrsOf = elemType: {
        name = "attrsOf";
        check = v: builtins.isAttrs v && builtins.all elemType.check (builtins.attrValues v);
      };
    };

    optionalAttrs = cond: attrs: if cond then attrs else { };
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    inherit (builtins) concatStringsSep elem filter;
    hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
    removePrefix =
      prefix: s:
      if hasPrefix prefix s then
        builtins.substring (builtins.stringLength prefix) (builtins.stringLength s) s
      else
        s;
    genAttrs =
      names: f:
      builtins.listToAttrs (
        map (name: {
          inherit name;
          value = f name;
        }) names
      );
    getExe = drv: "${drv}/bin/${drv.meta.mainProgram}";
    makeBinPath = drvs: concatStringsSep ":" (map (drv: "${drv}/bin") drvs);
    importTOML = path: builtins.fromTOML (builtins.readFile path);
    platforms.linux = [
      "x86_64-linux"
      "aarch64-linux"
    ];
    trivial.release = "25.11";
    # A file set as the list of what it was made of (paths, and filters with their root).
    fileset = {
      unions = sets: sets;
      fileFilter = predicate: path: {
        _type = "fileFilter";
        inherit predicate path;
      };
      toSource = { root, fileset }: {
        _type = "fileSource";
        inherit root fileset;
      };
    };
  };

  fakeDrv = name: {
    inherit name;
    pname = name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };

  pythonPackageNames = [
    "setuptools"
    "starlette"
    "hypercorn"
    "openai-whisper"
    "av"
    "python-dotenv"
    "python-multipart"
    "httpx"
    "prometheus-client"
    "faster-whisper"
    "tqdm"
    "safetensors"
    "psycopg"
    "onnxruntime"
    "wyoming"
    "websockets"
    "pytest"
    "hypothesis"
    "jiwer"
    "openai"
    "transformers"
    "mypy"
    "openapi-spec-validator"
    "jsonschema"
    "types-jsonschema"
    "pyyaml"
    "types-pyyaml"
    "playwright"
    "requests"
    "types-requests"
    "srt"
    "webvtt-py"
    "pysubs2"
    "onnx"
  ];

  # nixpkgs for one system; cudaSupport as nixpkgs' config.cudaSupport.
  mkPkgs =
    system: cudaSupport:
    let
      pkgs = rec {
        inherit lib system;
        stdenv.hostPlatform.system = system;
        callPackage =
          fn: overrides:
          let
            f = if builtins.isFunction fn then fn else import fn;
          in
          f (builtins.intersectAttrs (builtins.functionArgs f) (pkgs // overrides));

        python3Packages =
          builtins.listToAttrs (
            map (name: {
              inherit name;
              value = fakeDrv name;
            }) pythonPackageNames
          )
          // {
            torch = fakeDrv "torch" // {
              inherit cudaSupport;
            };
            buildPythonApplication =
              attrs:
              (fakeDrv attrs.pname)
              // attrs
              // (attrs.passthru or { })
              // {
                inherit (attrs) version;
              };
          };
        python3 = fakeDrv "python3" // {
          pkgs = python3Packages;
          withPackages = f: fakeDrv "python3-env" // { packages = f python3Packages; };
        };
        mkShell = attrs: fakeDrv "shell" // attrs;
        ffmpeg-headless = fakeDrv "ffmpeg-headless";
        espeak-ng = fakeDrv "espeak-ng";
        postgresql = fakeDrv "postgresql";
        ruff = fakeDrv "ruff";
        hadolint = fakeDrv "hadolint";
        import-linter = fakeDrv "import-linter";
      };
    in
    pkgs;
}
