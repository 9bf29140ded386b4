export default defineBackground(() => {
  // The router, permissions and the offscreen engine host arrive with the extension issue.
});
