using System.Globalization;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine;

/// <summary>A release name (a Git tag, a release folder) read as a version (v2.3.0, release-2.3, 2.3.1-rc.1), so tags sort in version order, not date order.</summary>
public sealed partial class VersionTag : IComparable<VersionTag>
{
    private VersionTag(string name, int[] numbers, string? preRelease)
    {
        Name = name;
        Numbers = numbers;
        PreRelease = preRelease;
    }

    public string Name { get; }
    public int[] Numbers { get; }
    public string? PreRelease { get; }

    [GeneratedRegex(@"^[A-Za-z_\-/]*?(?<numbers>\d+(?:\.\d+){0,3})(?:-(?<pre>[0-9A-Za-z.\-]+))?(?:\+[0-9A-Za-z.\-]+)?$")]
    private static partial Regex Pattern();

    public static VersionTag? TryParse(string tagName)
    {
        var match = Pattern().Match(tagName);
        if (!match.Success)
        {
            return null;
        }

        var parts = match.Groups["numbers"].Value.Split('.');
        var numbers = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out numbers[i]))
            {
                return null;
            }
        }

        return new VersionTag(tagName, numbers, match.Groups["pre"].Success ? match.Groups["pre"].Value : null);
    }

    public int CompareTo(VersionTag? other)
    {
        if (other is null)
        {
            return 1;
        }

        for (var i = 0; i < Math.Max(Numbers.Length, other.Numbers.Length); i++)
        {
            var compared = (i < Numbers.Length ? Numbers[i] : 0).CompareTo(i < other.Numbers.Length ? other.Numbers[i] : 0);
            if (compared != 0)
            {
                return compared;
            }
        }

        // A pre-release sorts before its release (2.3.0-rc.1 < 2.3.0), as in SemVer.
        return (PreRelease, other.PreRelease) switch
        {
            (null, null) => 0,
            (null, _) => 1,
            (_, null) => -1,
            _ => ComparePreRelease(PreRelease!, other.PreRelease!),
        };
    }

    private static int ComparePreRelease(string left, string right)
    {
        var a = left.Split('.');
        var b = right.Split('.');
        for (var i = 0; i < Math.Min(a.Length, b.Length); i++)
        {
            var aNumeric = int.TryParse(a[i], NumberStyles.None, CultureInfo.InvariantCulture, out var aNumber);
            var bNumeric = int.TryParse(b[i], NumberStyles.None, CultureInfo.InvariantCulture, out var bNumber);
            var compared = (aNumeric, bNumeric) switch
            {
                (true, true) => aNumber.CompareTo(bNumber),
                (true, false) => -1,
                (false, true) => 1,
                _ => string.CompareOrdinal(a[i], b[i]),
            };
            if (compared != 0)
            {
                return compared;
            }
        }

        return a.Length.CompareTo(b.Length);
    }

    public override string ToString() => Name;
}
