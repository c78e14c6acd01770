namespace DeploymentRollback;

/// <summary>Phase 4: the incident report, written as Markdown and JSON.</summary>
public sealed class IncidentReport
{
    public string AttemptId { get; set; } = "";
    public string Strategy { get; set; } = "";
    public string TargetKey { get; set; } = "";
    public RollbackOutcome Outcome { get; set; }
    public string WhatFailed { get; set; } = "";
    public string WhyItFailed { get; set; } = "";
    public string WhatWasRolledBack { get; set; } = "";
    public TimeSpan? TimeToRecovery { get; set; }
    public List<string> RecommendedFixes { get; set; } = new();
    public List<string> Timeline { get; set; } = new();
    /// <summary>The spec's rollback checklist as the journal proves it when the report is made, each item with its evidence.</summary>
    public List<ChecklistItem> Checklist { get; set; } = new();
    public string MarkdownPath { get; set; } = "";
    public string JsonPath { get; set; } = "";
    /// <summary>The self-contained HTML page, with -Format Html.</summary>
    public string? HtmlPath { get; set; }
    public DateTimeOffset GeneratedAt { get; set; }
}

/// <summary>One line of the spec's rollback checklist, ticked only when the journal proves it.</summary>
public sealed class ChecklistItem
{
    public string Section { get; set; } = "";
    public string Item { get; set; } = "";
    public bool Done { get; set; }
    public string? Evidence { get; set; }
    public override string ToString() => $"- [{(Done ? "x" : " ")}] {Item}";
}

/// <summary>A version recorded as verified-good for a target.</summary>
public sealed class VerifiedVersion
{
    public string TargetKey { get; set; } = "";
    public string Strategy { get; set; } = "";
    public string Version { get; set; } = "";
    public string? Commit { get; set; }
    public DateTimeOffset RecordedAt { get; set; }
    public string Evidence { get; set; } = "";
    /// <summary>
    /// A folder of what is needed to restore this version exactly (e.g. a resolved compose file), if any; in a shared
    /// store, its reference there (store:snapshots/&lt;id&gt;), fetched into the local cache when a rollback reads it.
    /// </summary>
    public string? Snapshot { get; set; }
}
