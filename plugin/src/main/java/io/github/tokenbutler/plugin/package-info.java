/** TokenButler: see the subpackages (placeholder until the plugin lands). */
package io.github.tokenbutler.plugin;
