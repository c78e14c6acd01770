using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using DeploymentRollback.Engine;
using DeploymentRollback.Engine.Git;

namespace DeploymentRollback.Commands;

/// <summary>Completes Git -Target with the repository's tags, newest version first.</summary>
public sealed class GitTagCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        if (fakeBoundParameters["Strategy"] is string strategy && !strategy.Equals("Git", StringComparison.OrdinalIgnoreCase))
        {
            return Array.Empty<CompletionResult>();
        }

        try
        {
            // Relative to PowerShell's current folder, which is not the process's working directory.
            using var shell = PowerShell.Create(RunspaceMode.CurrentRunspace);
            var current = shell.AddCommand("Microsoft.PowerShell.Management\\Get-Location").AddParameter("PSProvider", "FileSystem")
                .Invoke<PathInfo>().FirstOrDefault()?.ProviderPath ?? Environment.CurrentDirectory;
            var path = fakeBoundParameters["Path"] as string;
            var tags = GitSession.ListTags(System.IO.Path.GetFullPath(path ?? ".", current));
            return tags.Where(t => t.StartsWith(wordToComplete.Trim('\'', '"'), StringComparison.OrdinalIgnoreCase))
                .Select(t => new CompletionResult(t, t, CompletionResultType.ParameterValue, t)).ToList();
        }
        catch (Exception)
        {
            // Completion must never throw into the user's prompt; no repository means no suggestions.
            return Array.Empty<CompletionResult>();
        }
    }
}

public sealed class SignalNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters) =>
        SignalNames.All.Where(n => n.StartsWith(wordToComplete, StringComparison.OrdinalIgnoreCase))
            .Select(n => new CompletionResult(n, n, CompletionResultType.ParameterValue, n));
}

/// <summary>Hooks for tests (not exported commands): prove that the third-party SDKs load from the module's private context.</summary>
public static class InternalHooks
{
    public static string[] ConstructClients(string kubeConfigPath, string dockerEndpoint) =>
        ClientProbe.ConstructClients(kubeConfigPath, new Uri(dockerEndpoint)).ToArray();

    /// <summary>The engine's catalog of strategies, in its order.</summary>
    public static string[] EngineStrategies() => StrategyRegistry.Names.ToArray();

    public static string[] LoadedThirdPartyAssemblies() => AppDomain.CurrentDomain.GetAssemblies()
        .Select(a => a.GetName().Name ?? "")
        .Where(n => n is "LibGit2Sharp" or "KubernetesClient" or "Docker.DotNet" or "Microsoft.Data.Sqlite" or "YamlDotNet" or "CloudNative.CloudEvents")
        .ToArray();
}

/// <summary>Completes -Strategy with the strategies that have a parameter class.</summary>
public sealed class StrategyCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters) =>
        StrategyParameters.Strategies.Keys.Order(StringComparer.Ordinal).Where(n => n.StartsWith(wordToComplete.Trim('\'', '"'), StringComparison.OrdinalIgnoreCase))
            .Select(n => new CompletionResult(n, n, CompletionResultType.ParameterValue, n));
}
