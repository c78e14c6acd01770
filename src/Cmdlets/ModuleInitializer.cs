using System.Management.Automation;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace DeploymentRollback.Commands;

/// <summary>
/// Loads the Engine, and through it every third-party assembly, into a private load context from
/// Dependencies/, so other modules' versions of YamlDotNet, Newtonsoft.Json or LibGit2Sharp never clash with ours.
/// Only the Engine's name is bridged from the default context. The Model (output types, no dependencies) lives
/// beside this assembly in the default context, where scripts can name its types; the private context defers to it.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer
{
    private const string EngineAssemblyName = "DeploymentRollback.Engine";
    private const string ModelAssemblyName = "DeploymentRollback.Model";

    private static readonly string ModuleDirectory = Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!;
    private static readonly string DependencyDirectory = Path.Combine(ModuleDirectory, "Dependencies");

    private static readonly EngineLoadContext LoadContext = new(DependencyDirectory);
    private static int hooked;

    public void OnImport()
    {
        if (Interlocked.Exchange(ref hooked, 1) == 0)
        {
            AssemblyLoadContext.Default.Resolving += ResolveEngine;
        }
    }

    private static Assembly? ResolveEngine(AssemblyLoadContext context, AssemblyName name) => name.Name switch
    {
        EngineAssemblyName => LoadContext.LoadFromAssemblyName(name),
        ModelAssemblyName => context.LoadFromAssemblyPath(Path.Combine(ModuleDirectory, ModelAssemblyName + ".dll")),
        _ => null,
    };
}

/// <summary>Resolves managed assemblies from Dependencies/ and native ones from Dependencies/runtimes/&lt;rid&gt;/native/.</summary>
internal sealed class EngineLoadContext : AssemblyLoadContext
{
    private readonly string directory;
    private readonly string[] nativeDirectories;

    public EngineLoadContext(string directory)
        : base("DeploymentRollback", isCollectible: false)
    {
        this.directory = directory;
        nativeDirectories = RuntimeIdentifiers().Select(rid => Path.Combine(directory, "runtimes", rid, "native")).Where(Directory.Exists).ToArray();
    }

    /// <summary>
    /// Returning null defers to the default context: that is how the shared Model assembly is found, and how a .NET
    /// library the running PowerShell already has (System.Text.Json, ...) is used in place of an older package copy a
    /// dependency brought into Dependencies/: two copies would make the framework's own System.Net.Http.Json, compiled
    /// against its System.Text.Json, fail with MissingMethodException when called with the other copy's types.
    /// </summary>
    protected override Assembly? Load(AssemblyName assemblyName)
    {
        var path = Path.Combine(directory, assemblyName.Name + ".dll");
        if (!File.Exists(path))
        {
            return null;
        }

        return PlatformVersion(assemblyName.Name!) is { } platform && platform >= (assemblyName.Version ?? new Version()) ? null : LoadFromAssemblyPath(path);
    }

    /// <summary>The version of an assembly of the running .NET itself (its trusted platform assemblies), or null.</summary>
    private static Version? PlatformVersion(string name)
    {
        var platform = PlatformAssemblies.Value.TryGetValue(name, out var file) ? file : null;
        try
        {
            return platform is null ? null : AssemblyName.GetAssemblyName(platform).Version;
        }
        catch (Exception e) when (e is IOException or BadImageFormatException)
        {
            return null;
        }
    }

    // The runtime's own file list, the same for every job in the process.
    private static readonly Lazy<Dictionary<string, string>> PlatformAssemblies = new(() =>
        ((AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string) ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Where(file => Path.GetFileName(Path.GetDirectoryName(file)) is { } folder && Version.TryParse(folder, out _) && file.Contains("Microsoft.NETCore.App", StringComparison.Ordinal))
            .GroupBy(file => Path.GetFileNameWithoutExtension(file)!, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.OrdinalIgnoreCase));

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        foreach (var folder in nativeDirectories)
        {
            foreach (var candidate in NativeFileNames(unmanagedDllName))
            {
                var path = Path.Combine(folder, candidate);
                if (File.Exists(path))
                {
                    return LoadUnmanagedDllFromPath(path);
                }
            }
        }

        return IntPtr.Zero;
    }

    private static IEnumerable<string> NativeFileNames(string name)
    {
        yield return name;
        if (OperatingSystem.IsWindows())
        {
            yield return name + ".dll";
        }
        else
        {
            var extension = OperatingSystem.IsMacOS() ? ".dylib" : ".so";
            yield return name + extension;
            yield return "lib" + name + extension;
        }
    }

    private static IEnumerable<string> RuntimeIdentifiers()
    {
        var arch = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        if (OperatingSystem.IsWindows())
        {
            yield return $"win-{arch}";
        }
        else if (OperatingSystem.IsMacOS())
        {
            yield return $"osx-{arch}";
        }
        else
        {
            // musl (Alpine) first where it is the C library, else glibc.
            if (Directory.Exists("/lib") && Directory.EnumerateFiles("/lib", "ld-musl-*").Any())
            {
                yield return $"linux-musl-{arch}";
            }

            yield return $"linux-{arch}";
        }
    }
}
