namespace DeploymentRollback.Engine.Release;

/// <summary>The Release strategy's own error ids (a strategy keeps its ids in its folder; see DESIGN-NOTES).</summary>
internal static class ReleaseErrorIds
{
    public const string LayoutInvalid = "ReleaseLayoutInvalid";
    public const string NotFound = "ReleaseNotFound";
    public const string TargetMissing = "ReleaseTargetMissing";
    public const string SwitchFailed = "ReleaseSwitchFailed";
}
