"""What one step runs with and leaves behind: the run's options, the run folder, the
step's evidence and the context checks judge it in, the still-screen wait and the
robot's own CPU wait. Checks and actions read these; the runner fills them; this
package imports neither."""
