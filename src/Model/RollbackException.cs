namespace DeploymentRollback;

/// <summary>How an error should be categorised by a host (mirrors PowerShell's ErrorCategory names).</summary>
public enum RollbackErrorKind
{
    InvalidArgument,
    ObjectNotFound,
    InvalidOperation,
    ResourceBusy,
    PermissionDenied,
    ConnectionError,
    NotImplemented,
    WriteError,
}

/// <summary>An error the engine reports on purpose: a stable id, a kind and a message that says what to do.</summary>
public class RollbackException : Exception
{
    public RollbackException(string errorId, RollbackErrorKind kind, string message, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Kind = kind;
    }

    public string ErrorId { get; }
    public RollbackErrorKind Kind { get; }
    public string? TargetName { get; init; }
}

/// <summary>Every error id the module uses, in one place (named Noun + Condition).</summary>
public static class ErrorIds
{
    // Plans (rollback.psd1): one id per problem, so a runbook can tell them apart.
    public const string PlanFileNotFound = "PlanFileNotFound";
    public const string PlanSyntaxInvalid = "PlanSyntaxInvalid";
    public const string PlanFileUnreadable = "PlanFileUnreadable";
    public const string PlanServiceMissing = "PlanServiceMissing";
    public const string PlanComponentInvalid = "PlanComponentInvalid";
    public const string PlanComponentDuplicate = "PlanComponentDuplicate";
    public const string PlanStrategyUnknown = "PlanStrategyUnknown";
    public const string PlanParameterUnknown = "PlanParameterUnknown";
    public const string PlanParameterInvalid = "PlanParameterInvalid";
    public const string PlanReferencedFileMissing = "PlanReferencedFileMissing";
    public const string PlanDependencyUnknown = "PlanDependencyUnknown";
    public const string PlanDependencyCycle = "PlanDependencyCycle";
    public const string PlanInvalid = "PlanInvalid";
    public const string PlanComponentUnknown = "PlanComponentUnknown";
    public const string PlanPreflightFailed = "PlanPreflightFailed";
    public const string PlanParameterConflict = "PlanParameterConflict";
    public const string ReleaseSnapshotNotFound = "ReleaseSnapshotNotFound";
    public const string ReleaseSnapshotIncomplete = "ReleaseSnapshotIncomplete";
    public const string PlanFileExists = "PlanFileExists";
    public const string NotifyUriInvalid = "NotifyUriInvalid";

    public const string StrategyNotImplemented = "StrategyNotImplemented";
    public const string StateDirectoryUnusable = "StateDirectoryUnusable";
    public const string RollbackLockTimeout = "RollbackLockTimeout";
    public const string RollbackEscalated = "RollbackEscalated";
    public const string CheckpointNotFound = "CheckpointNotFound";
    public const string CheckpointNameInvalid = "CheckpointNameInvalid";
    public const string CheckpointExists = "CheckpointExists";
    public const string SignalNameInvalid = "SignalNameInvalid";
    public const string SignalWebhookFailed = "SignalWebhookFailed";
    public const string HealthCheckUriInvalid = "HealthCheckUriInvalid";
    public const string HealthCheckBodyInvalid = "HealthCheckBodyInvalid";
    public const string SmokeTestNotFound = "SmokeTestNotFound";
    public const string RestartScriptFailed = "RestartScriptFailed";
    public const string AttemptNotFound = "AttemptNotFound";
    public const string ReportPathInvalid = "ReportPathInvalid";
    public const string GitRepositoryNotFound = "GitRepositoryNotFound";
    public const string GitTargetNotFound = "GitTargetNotFound";
    public const string GitTargetMissing = "GitTargetMissing";
    public const string GitWorkingTreeDirty = "GitWorkingTreeDirty";
    public const string GitRevertConflict = "GitRevertConflict";
    public const string GitHeadDetached = "GitHeadDetached";
    public const string GitCommitNotFound = "GitCommitNotFound";
    public const string GitPushFailed = "GitPushFailed";
    public const string GitNoRemote = "GitNoRemote";
    public const string GitRepositoryEmpty = "GitRepositoryEmpty";
    public const string DockerEngineUnreachable = "DockerEngineUnreachable";
    public const string ContainerNotFound = "ContainerNotFound";
    public const string ContainerNameMissing = "ContainerNameMissing";
    public const string ContainerImageNotFound = "ContainerImageNotFound";
    public const string ContainerTargetMissing = "ContainerTargetMissing";
    public const string ContainerPortInUse = "ContainerPortInUse";
    public const string ComposeNotInstalled = "ComposeNotInstalled";
    public const string ComposeProjectNotFound = "ComposeProjectNotFound";
    public const string ComposeFileInvalid = "ComposeFileInvalid";
    public const string ComposeServiceNotFound = "ComposeServiceNotFound";
    public const string ComposeTargetMissing = "ComposeTargetMissing";
    public const string ComposeCommandFailed = "ComposeCommandFailed";
    public const string FlagParameterMissing = "FlagParameterMissing";
    public const string FlagServiceUnreachable = "FlagServiceUnreachable";
    public const string FlagServiceUnauthorized = "FlagServiceUnauthorized";
    public const string FlagNotFound = "FlagNotFound";
    public const string FlagProjectNotFound = "FlagProjectNotFound";
    public const string FlagEnvironmentNotFound = "FlagEnvironmentNotFound";
    public const string FlagServiceError = "FlagServiceError";
    public const string FlagFileInvalid = "FlagFileInvalid";
    public const string FlagRestoreStateMissing = "FlagRestoreStateMissing";
    public const string ConfigFileNotFound = "ConfigFileNotFound";
    public const string ConfigPreviousMissing = "ConfigPreviousMissing";
    public const string ConfigSecretUnavailable = "ConfigSecretUnavailable";
    public const string DatabaseToolUnknown = "DatabaseToolUnknown";
    public const string DatabaseToolNotInstalled = "DatabaseToolNotInstalled";
    public const string DatabaseProjectNotFound = "DatabaseProjectNotFound";
    public const string DatabaseMigrationUnknown = "DatabaseMigrationUnknown";
    public const string DatabaseTargetMissing = "DatabaseTargetMissing";
    public const string DatabaseUnreachable = "DatabaseUnreachable";
    public const string DatabaseToolFailed = "DatabaseToolFailed";
    public const string DatabaseIrreversibleMigration = "DatabaseIrreversibleMigration";
    public const string KubernetesNameMissing = "KubernetesNameMissing";
    public const string KubernetesKindInvalid = "KubernetesKindInvalid";
    public const string KubeConfigInvalid = "KubeConfigInvalid";
    public const string KubernetesContextNotFound = "KubernetesContextNotFound";
    public const string KubernetesNamespaceNotFound = "KubernetesNamespaceNotFound";
    public const string KubernetesWorkloadNotFound = "KubernetesWorkloadNotFound";
    public const string KubernetesNoRolloutHistory = "KubernetesNoRolloutHistory";
    public const string KubernetesRevisionNotFound = "KubernetesRevisionNotFound";
    public const string KubernetesDeploymentPaused = "KubernetesDeploymentPaused";
    public const string KubernetesForbidden = "KubernetesForbidden";
    public const string KubernetesUnauthorized = "KubernetesUnauthorized";
    public const string KubernetesUnreachable = "KubernetesUnreachable";
    public const string KubernetesApiError = "KubernetesApiError";
    public const string KubernetesConflict = "KubernetesConflict";
    public const string KubernetesRolloutFailed = "KubernetesRolloutFailed";
    public const string KubernetesSelectorInvalid = "KubernetesSelectorInvalid";

    // The state folder under faults, and signals.
    public const string StateDiskFull = "StateDiskFull";
    public const string StateReadOnly = "StateReadOnly";
    public const string StateFileUnusable = "StateFileUnusable";
    public const string JournalCorrupt = "JournalCorrupt";
    public const string JournalBusy = "JournalBusy";
    public const string RollbackLockLost = "RollbackLockLost";
    public const string StateStoreTooNew = "StateStoreTooNew";
    public const string StateStoreUnreachable = "StateStoreUnreachable";
    public const string StateStoreInvalid = "StateStoreInvalid";
    public const string StateStoreDenied = "StateStoreDenied";
    public const string LockNotHeld = "LockNotHeld";
    public const string CheckpointTooLarge = "CheckpointTooLarge";
    public const string CheckpointReservationTimeout = "CheckpointReservationTimeout";
    public const string SignalTargetKeyInvalid = "SignalTargetKeyInvalid";
    public const string SignalDataInvalid = "SignalDataInvalid";

    // Inbound alerts (ConvertFrom-RollbackAlert, and a listener's authentication).
    public const string AlertPayloadInvalid = "AlertPayloadInvalid";
    public const string AlertFormatUnknown = "AlertFormatUnknown";
    public const string AlertTargetNotMapped = "AlertTargetNotMapped";
    public const string AlertMapInvalid = "AlertMapInvalid";
    public const string AlertTokenInvalid = "AlertTokenInvalid";
    public const string AlertSignatureInvalid = "AlertSignatureInvalid";

    // Cmdlet surface
    public const string StrategyRequired = "StrategyRequired";
    public const string ParameterNotForStrategy = "ParameterNotForStrategy";
    public const string TargetEmpty = "TargetEmpty";
    public const string ScriptNotExecutable = "ScriptNotExecutable";

    // Reruns, interrupted attempts and escalation
    public const string GitBranchBehind = "GitBranchBehind";
    public const string GitIndexLocked = "GitIndexLocked";
    public const string GitFetchFailed = "GitFetchFailed";

    // Files written as they were
    public const string FileNotRegular = "FileNotRegular";
    public const string FileUnreadable = "FileUnreadable";
    public const string FeatureFlagRestoreUnreadable = "FeatureFlagRestoreUnreadable";
    public const string FeatureFlagUriInvalid = "FeatureFlagUriInvalid";

    // Watching (Watch-RollbackTarget)
    public const string WatchQueryInvalid = "WatchQueryInvalid";
    public const string WatchPrometheusUriInvalid = "WatchPrometheusUriInvalid";
    public const string WatchNothingToMeasure = "WatchNothingToMeasure";
    public const string WatchWindowInvalid = "WatchWindowInvalid";
    public const string WatchTargetKeyRequired = "WatchTargetKeyRequired";
    public const string ListenerAuthenticationRequired = "ListenerAuthenticationRequired";
    public const string ListenerPrefixInvalid = "ListenerPrefixInvalid";
    public const string ListenerStartFailed = "ListenerStartFailed";
    public const string AlertPayloadTooLarge = "AlertPayloadTooLarge";
    public const string WatchSelectionNotSupported = "WatchSelectionNotSupported";

}
