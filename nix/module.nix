# NixOS module: services.whisper-api.
#
# Every setting option maps to one environment variable of README.md's configuration table;
# `environment` adds or overrides any variable, and `environmentFile` (read by systemd, so it
# may be a root-only secret) overrides both.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.whisper-api;
  inherit (lib) mkOption types;

  # decoder/wire/models.py's official names (tests/system/test_nix_files.py keeps the two in step).
  modelNames = [
    "tiny"
    "tiny.en"
    "base"
    "base.en"
    "small"
    "small.en"
    "medium"
    "medium.en"
    "large-v3-turbo"
    "turbo"
    "large-v1"
    "large-v2"
    "large-v3"
    "large"
  ];

  flag = value: if value then "1" else "0";
  commaList = lib.concatStringsSep ",";

  # LoadCredential hands the service a copy of the keys file that only it can read, under
  # this fixed path ($CREDENTIALS_DIRECTORY), whoever owns the original.
  credentialsDir = "/run/credentials/whisper-api.service";

  # Options left null are left out: the server then uses its own default ("unset").
  settingsEnvironment =
    {
      PORT = toString cfg.port;
      LISTEN = cfg.listen;
      LOAD_MODEL_ON_STARTUP = flag cfg.loadModelOnStartup;
      USE_GPU_IF_AVAILABLE = flag cfg.useGpu;
      CPU_FALLBACK_MODEL = cfg.cpuFallbackModel;
      DELETE_RESULTS_AFTER_M = toString cfg.deleteResultsAfterM;
      MAX_TASK_QUEUE_SIZE = toString cfg.maxTaskQueueSize;
      MAX_UPLOAD_MB = toString cfg.maxUploadMB;
      SHUTDOWN_GRACE_S = toString cfg.shutdownGraceS;
      DATA_DIR = cfg.dataDir;
      MODEL_DIR = cfg.modelDir;
      DECODERS = toString cfg.decoders;
      LEASE_S = toString cfg.leaseS;
      LOG_DIR = "/var/log/whisper-api";
      # The server reads "none" as "no proxy is trusted"; an empty value would mean its default.
      TRUSTED_PROXIES = if cfg.trustedProxies == [ ] then "none" else commaList cfg.trustedProxies;
      LOG_PRIVACY_MODE = flag cfg.logPrivacyMode;
      LOG_AUTHORIZED_MAILS = commaList cfg.logAuthorizedMails;
      CALLBACK_ALLOWED_HOSTS = commaList cfg.callbackAllowedHosts;
    }
    // lib.optionalAttrs (cfg.maxModel != null) { MAX_MODEL = cfg.maxModel; }
    // lib.optionalAttrs (cfg.databaseUrl != null) { DATABASE_URL = cfg.databaseUrl; }
    // lib.optionalAttrs (cfg.unloadModelAfterS != null) {
      UNLOAD_MODEL_AFTER_S = toString cfg.unloadModelAfterS;
    }
    // lib.optionalAttrs (cfg.apiKeysFile != null) { API_KEYS_FILE = "${credentialsDir}/api-keys"; };

  # torch, triton and numba keep caches under $HOME or $XDG_CACHE_HOME, and a DynamicUser has
  # no writable home: both point at the unit's CacheDirectory.
  cacheEnvironment = {
    HOME = "/var/cache/whisper-api";
    XDG_CACHE_HOME = "/var/cache/whisper-api";
    NUMBA_CACHE_DIR = "/var/cache/whisper-api/numba";
  };

  # A secret given as a Nix path literal, or a store path, is world-readable in /nix/store.
  outsideStore =
    file:
    file == null || !(builtins.isPath file || lib.hasPrefix builtins.storeDir (toString file));

  isLoopback = lib.elem cfg.listen [
    "127.0.0.1"
    "::1"
    "localhost"
  ];
in
{
  options.services.whisper-api = {
    enable = lib.mkEnableOption "whisper-api, a self-hosted speech-to-text server";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./nix/package.nix { }";
      example = lib.literalExpression "inputs.whisper-api.packages.\${pkgs.system}.whisper-api-cuda";
      description = ''
        The whisper-api package. The default is built from this source with the system's
        nixpkgs, so it uses CUDA when `nixpkgs.config.cudaSupport` is set; the flake's
        `whisper-api-cuda` is the CUDA build on its own nixpkgs.
      '';
    };

    port = mkOption {
      type = types.port;
      default = 3001;
      description = "Port to serve on (`PORT`).";
    };

    listen = mkOption {
      type = types.str;
      default = "127.0.0.1";
      example = "::";
      description = "Address to serve on (`LISTEN`).";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open `port` in the firewall.";
    };

    maxModel = mkOption {
      type = types.nullOr (types.enum modelNames);
      default = null;
      example = "small.en";
      description = ''
        Largest model to use (`MAX_MODEL`); null lets the server choose the best that fits
        (`large-v3` on a GPU, `cpuFallbackModel` on the CPU).
      '';
    };

    cpuFallbackModel = mkOption {
      type = types.enum modelNames;
      default = "medium";
      description = "CPU model when `maxModel` is null (`CPU_FALLBACK_MODEL`).";
    };

    unloadModelAfterS = mkOption {
      type = types.nullOr types.ints.unsigned;
      default = null;
      example = 600;
      description = ''
        Unload the model after this many idle seconds; 0 unloads it as soon as the queue is
        empty; null never unloads it (`UNLOAD_MODEL_AFTER_S`).
      '';
    };

    loadModelOnStartup = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Load the model at start rather than at the first task (`LOAD_MODEL_ON_STARTUP`). The
        unit becomes active (READY=1) only once the model is loaded.
      '';
    };

    useGpu = mkOption {
      type = types.bool;
      default = cfg.package.cudaSupport or false;
      defaultText = lib.literalExpression "config.services.whisper-api.package.cudaSupport or false";
      description = ''
        Use CUDA when present (`USE_GPU_IF_AVAILABLE`). Also opens the NVIDIA device nodes to
        the otherwise device-less service.
      '';
    };

    deleteResultsAfterM = mkOption {
      type = types.ints.unsigned;
      default = 60;
      description = "Minutes a finished or failed result is kept (`DELETE_RESULTS_AFTER_M`).";
    };

    maxTaskQueueSize = mkOption {
      type = types.ints.positive;
      default = 128;
      description = "Waiting tasks allowed before uploads get 429 (`MAX_TASK_QUEUE_SIZE`).";
    };

    maxUploadMB = mkOption {
      type = types.ints.positive;
      default = 1024;
      description = "Largest upload accepted, in MB; larger ones get 413 (`MAX_UPLOAD_MB`).";
    };

    shutdownGraceS = mkOption {
      type = types.ints.unsigned;
      default = 30;
      description = ''
        On stop, how long the task being decoded may take to finish (`SHUTDOWN_GRACE_S`).
        systemd's stop timeout is set 30 s beyond it.
      '';
    };

    dataDir = mkOption {
      type = types.str;
      default = "/var/lib/whisper-api";
      description = ''
        Job database and waiting uploads (`DATA_DIR`); also the working directory. Must be
        under /var/lib: systemd creates it (StateDirectory) for the dynamic service user.
      '';
    };

    decoders = mkOption {
      type = types.ints.unsigned;
      default = 0;
      example = 2;
      description = ''
        Decoder processes on this host (`DECODERS`); 0 runs one per visible CUDA GPU (each sees
        only its own), and on a host without one as many as its CPUs hold at the threads per
        decoder that suit the model (one each for tiny and base: see docs/benchmarks.md).
      '';
    };

    databaseUrl = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "postgresql:///whisper?host=/run/postgresql";
      description = ''
        Keep the jobs in this PostgreSQL database instead of the SQLite file (`DATABASE_URL`), so
        that several hosts share one queue; they must then share `dataDir` too (docs/deployment.md,
        "Scaling out"). It ends up in the Nix store: a URL with a password belongs in
        `environmentFile`.
      '';
    };

    leaseS = mkOption {
      type = types.ints.positive;
      default = 30;
      description = ''
        With `databaseUrl`: seconds a host's claim on a job lasts unless renewed; the jobs of a
        host that disappears go to another after this long (`LEASE_S`).
      '';
    };

    modelDir = mkOption {
      type = types.str;
      default = "${cfg.dataDir}/models";
      defaultText = lib.literalExpression ''"''${config.services.whisper-api.dataDir}/models"'';
      description = ''
        Where models are looked for, downloaded and imported (`MODEL_DIR`). Outside `dataDir`
        the service can only read it: provision the `NAME.pt` files there yourself.
      '';
    };

    apiKeysFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/whisper-api-keys";
      description = ''
        File with one API key per line (`API_KEYS_FILE`); null: no keys are needed. It may be
        readable by root only: systemd passes the service a private copy (LoadCredential).
        Give it as a string, so that it is not copied into the world-readable Nix store.
      '';
    };

    trustedProxies = mkOption {
      type = types.listOf types.str;
      default = [
        "127.0.0.1"
        "::1"
      ];
      example = [
        "127.0.0.1"
        "10.0.0.0/8"
      ];
      description = ''
        Addresses or networks whose `X-User` / `X-Email` headers are believed
        (`TRUSTED_PROXIES`); an empty list trusts none.
      '';
    };

    logPrivacyMode = mkOption {
      type = types.bool;
      default = true;
      description = "Shorten task ids in logs to 8 characters (`LOG_PRIVACY_MODE`).";
    };

    logAuthorizedMails = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "admin@example.org" ];
      description = "Mail addresses allowed to download the logs (`LOG_AUTHORIZED_MAILS`).";
    };

    callbackAllowedHosts = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [
        "hooks.example.org"
        ".internal.example.org"
      ];
      description = ''
        Hosts that `callback_url` may point at; a leading dot allows subdomains; empty allows
        any host (`CALLBACK_ALLOWED_HOSTS`).
      '';
    };

    environment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        LOG_LEVEL_CONSOLE = "DEBUG";
        RUN_RESULT_EXPIRY_CHECK_M = "10";
      };
      description = ''
        Further environment variables (see README.md's configuration table); they override
        the ones the options above set. They end up in the Nix store: put secrets such as
        `API_KEYS` in `environmentFile`.
      '';
    };

    environmentFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/whisper-api.env";
      description = ''
        File of `NAME=value` lines read by systemd (as root) when the service starts, e.g. for
        `API_KEYS`; it overrides every other setting. Give it as a string, so that it is not
        copied into the world-readable Nix store.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.leaseS >= 5;
        message = "services.whisper-api.leaseS must be at least 5 seconds.";
      }
      {
        assertion = lib.hasPrefix "/var/lib/" cfg.dataDir;
        message = "services.whisper-api.dataDir must be under /var/lib/ (it is the unit's StateDirectory).";
      }
      {
        assertion = outsideStore cfg.apiKeysFile;
        message = ''services.whisper-api.apiKeysFile must be a string path outside /nix/store (e.g. "/run/secrets/whisper-api-keys"): the keys would be world-readable in the store.'';
      }
      {
        assertion = outsideStore cfg.environmentFile;
        message = ''services.whisper-api.environmentFile must be a string path outside /nix/store (e.g. "/run/secrets/whisper-api.env"): it would be world-readable in the store.'';
      }
    ];

    warnings =
      lib.optional (cfg.useGpu && !(cfg.package.cudaSupport or false)) ''
        services.whisper-api.useGpu is set but the package's torch has no CUDA: use the flake's
        whisper-api-cuda package, or set nixpkgs.config.cudaSupport.
      ''
      ++ lib.optional (cfg.environment ? API_KEYS) ''
        services.whisper-api.environment.API_KEYS puts the keys into the world-readable Nix store:
        use apiKeysFile or environmentFile instead.
      ''
      ++ lib.optional (cfg.openFirewall && isLoopback) ''
        services.whisper-api.openFirewall has no effect while listen is ${cfg.listen}.
      '';

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [ cfg.port ];

    systemd.services.whisper-api = {
      description = "whisper-api speech-to-text server";
      after = [ "network.target" ];
      wantedBy = [ "multi-user.target" ];

      environment = cacheEnvironment // settingsEnvironment // cfg.environment;

      serviceConfig = {
        # The server sends READY=1 once it serves and, with loadModelOnStartup, has its model.
        Type = "notify";
        NotifyAccess = "main";
        ExecStart = "${cfg.package}/bin/whisper-api serve";
        Restart = "on-failure";
        RestartSec = "5s";
        # The first start may download a model of several GB before READY=1.
        TimeoutStartSec = lib.mkDefault "30min";
        # SIGTERM goes to the server only: it stops the decoder itself once the task in hand
        # is done or shutdownGraceS has passed, then exits 0. The default (control-group)
        # would kill the decoder at once. What is left at the timeout gets SIGKILL.
        KillMode = "mixed";
        TimeoutStopSec = cfg.shutdownGraceS + 30;
        # Every open upload and event stream holds a descriptor.
        LimitNOFILE = 65536;

        # A user of its own, made up per start: the service shares no files with anyone, reads
        # its secrets through LoadCredential / EnvironmentFile, and needs no group for the
        # GPU (the NVIDIA device nodes are 0666). systemd owns and keeps the directories.
        DynamicUser = true;
        StateDirectory = lib.removePrefix "/var/lib/" cfg.dataDir;
        StateDirectoryMode = "0700";
        CacheDirectory = "whisper-api";
        CacheDirectoryMode = "0700";
        LogsDirectory = "whisper-api";
        LogsDirectoryMode = "0700";
        WorkingDirectory = cfg.dataDir;
        LoadCredential = lib.mkIf (cfg.apiKeysFile != null) "api-keys:${toString cfg.apiKeysFile}";
        EnvironmentFile = lib.mkIf (cfg.environmentFile != null) (toString cfg.environmentFile);
        UMask = "0077";

        # Hardening.
        CapabilityBoundingSet = if cfg.port < 1024 then [ "CAP_NET_BIND_SERVICE" ] else "";
        AmbientCapabilities = lib.mkIf (cfg.port < 1024) [ "CAP_NET_BIND_SERVICE" ];
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        RestrictAddressFamilies = [
          "AF_UNIX"
          "AF_INET"
          "AF_INET6"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
        ];
        SystemCallErrorNumber = "EPERM";
        # openai-whisper's word timings JIT-compile with numba (LLVM) and, on CUDA, triton;
        # torch may compile kernels too. JIT code needs writable-then-executable memory.
        MemoryDenyWriteExecute = false;
        # CUDA needs the host's /dev/nvidia* nodes, which PrivateDevices hides. Without a GPU the
        # service gets a private /dev of pseudo-devices only (/dev/null, /dev/urandom, ...);
        # with one, it sees the host's /dev but the device cgroup (DevicePolicy=closed) lets it
        # open only those pseudo-devices and the NVIDIA character devices. These are named by
        # their major numbers' names in /proc/devices, so every GPU index, nvidia-caps/* and
        # nvidia-uvm(-tools) are covered; nixpkgs' ollama module allows the same set.
        PrivateDevices = !cfg.useGpu;
        DevicePolicy = "closed";
        DeviceAllow = lib.optionals cfg.useGpu [
          "char-nvidiactl"
          "char-nvidia-caps"
          "char-nvidia-frontend"
          "char-nvidia-uvm"
        ];
      };
    };
  };
}
